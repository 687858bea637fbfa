/* Fuzz target: JSON manifest text -> manifest -> compiled graph. */
#include "fuzz_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_manifest(data, size, "fuzz.json", RM_MANIFEST_JSON);
}
