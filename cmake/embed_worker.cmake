# Writes OUT: a C file defining rm__pyw_worker_src with the bytes of IN
# (python/remotemedia/_worker.py), so hosts need no path to the package.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* generated from python/remotemedia/_worker.py */\nconst char rm__pyw_worker_src[] = {${bytes}0x00};\n")
