/* Fuzz target: .rmpkg package validation (remotemedia/package.h).
 *
 * The input is a package file: rm_package_open_bytes runs every check —
 * the zip directory through libzip, member names, sizes and ratios, the
 * member data, checksums, the wasm header, manifest.json compiled against
 * the built-in node types, metadata.json — and on success the members are
 * read back.  Limits are lowered so that one input costs little. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "remotemedia/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rm_package_limits lim;
    rm_package_limits_init(&lim);
    lim.max_package_bytes = 1u << 20;
    lim.max_members = 64;
    lim.max_wasm_bytes = lim.max_manifest_bytes = lim.max_python_bytes = 1u << 20;
    lim.max_total_bytes = 4u << 20;
    rm_package_report *r = rm_package_report_new();
    if (!r) return 0;
    rm_package *p = NULL;
    if (rm_package_open_bytes(data, size, fuzz_runtime(), &lim, &p, r) == 0) {
        size_t len = 0;
        for (size_t i = 0; i < rm_package_member_count(p); i++)
            (void)rm_package_member(p, rm_package_member_name(p, i), &len);
        const unsigned char *m = rm_package_member(p, "manifest.json", &len);
        if (!m || m[len] != 0) abort(); /* validated packages have a NUL-terminated manifest */
    }
    for (size_t i = 0; i < rm_package_report_count(r); i++)
        if (!rm_package_report_at(r, i)->text) abort();
    rm_package_free(p);
    rm_package_report_free(r);
    return 0;
}
