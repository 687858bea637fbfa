"""Exceptions.  Every failure is raised as one of these — never returned as an
error dict.  Each carries the runtime's symbolic code (``"RM_EPARAM"``) and,
when a node is at fault, its id."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

__all__ = ["RemoteMediaError", "ManifestError", "NodeError", "RuntimeUnavailableError"]


class RemoteMediaError(Exception):
    """Base class.  ``code`` is the runtime's error name (``"RM_ENODE"``),
    ``errno`` its negative number and ``error_class`` one of validation,
    node_execution, resource_limit, timeout, internal."""

    def __init__(self, message: str, *, code: str = "RM_EINTERNAL", errno: int = -22,
                 error_class: str = "internal", session_id: str = "", node_id: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.errno = errno
        self.error_class = error_class
        self.session_id = session_id or None
        self.node_id = node_id


class ManifestError(RemoteMediaError):
    """The manifest is invalid.  ``diagnostics`` lists *every* problem found,
    each a dict with code, file, line, column, path (``nodes[1].params.factor``),
    node_id, message and text (the formatted one-line form)."""

    def __init__(self, message: str, diagnostics: Optional[List[Dict[str, Any]]] = None,
                 code: str = "RM_EMANIFEST"):
        # the native runtime's text is one line per problem, each ending in "\n"
        super().__init__(message.rstrip("\n"), code=code, errno=-5, error_class="validation")
        self.diagnostics: List[Dict[str, Any]] = list(diagnostics or [])


class NodeError(RemoteMediaError):
    """A node failed while opening, processing or flushing.  ``node_id`` names
    it; for a Python node the original exception is ``__cause__`` and its
    formatted traceback is ``python_traceback``."""

    def __init__(self, message: str, *, node_id: str, code: str = "RM_ENODE", errno: int = -12,
                 error_class: str = "node_execution", session_id: str = ""):
        super().__init__(message, code=code, errno=errno, error_class=error_class,
                         session_id=session_id, node_id=node_id)
        self.python_traceback: Optional[str] = None
        from . import _pynode

        cause = _pynode.take_error(session_id, node_id)
        if cause is not None:
            self.__cause__ = cause
            self.python_traceback = _pynode.format_traceback(cause)

    def __str__(self) -> str:
        return f"node '{self.node_id}': {self.message}"


class RuntimeUnavailableError(RemoteMediaError):
    """runtime_hint="native" was asked for but the native extension is not
    available (the message says why)."""
