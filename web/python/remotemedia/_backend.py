"""The browser's stand-in for the package's _backend (used by nodetype.node):
no native extension here; a name clash with a wasm node type is refused when
the type is registered in the wasm runtime (web/src/python.ts)."""


def native_available() -> bool:
    return False


def check_python_node_name(name: str, replace: bool) -> None:
    del name, replace
