"""Untrusted XML is parsed with defusedxml: no entity expansion, no external entities."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from trainlytics.errors import FileImportError

__all__ = ["local_name", "parse_xml"]


def parse_xml(data: bytes, file_name: str | None, kind: str) -> Element:
    """The root element of ``data``; FileImportError for malformed or hostile XML."""
    try:
        root: Element = safe_et.fromstring(data, forbid_dtd=True)
        return root
    except DefusedXmlException as exc:
        raise FileImportError(
            f"{file_name or kind + ' file'}: refused XML ({type(exc).__name__})",
            hint=f"a {kind} file has no DTD or entities; this one is not a plain {kind} file",
        ) from exc
    except Exception as exc:  # ParseError and friends
        raise FileImportError(
            f"{file_name or kind + ' file'}: not well-formed XML ({exc})",
            hint="the file is corrupt or truncated; export it again",
        ) from exc


def local_name(tag: str) -> str:
    """``{namespace}name`` -> ``name``."""
    return tag.rsplit("}", 1)[-1]
