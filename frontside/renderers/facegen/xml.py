"""Reading and writing FaceGen's boost-serialization XML (lxml), with errors that name the file and element."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from lxml import etree

from frontside.errors import InputFormatError
from frontside.io import write_atomic

HEADER = b'<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>\n<!DOCTYPE boost_serialization>\n'


def load(path: str | os.PathLike) -> etree._Element:
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "file", "missing (fg3 did not write it)")
    try:
        return etree.parse(str(path)).getroot()
    except etree.XMLSyntaxError as exc:
        raise InputFormatError(path, "file", f"not well-formed XML ({exc})") from None


def find(root: etree._Element, path: str, file: str | os.PathLike) -> etree._Element:
    """The first element matching `path` anywhere below root (FaceGen nests its structs under varying roots)."""
    found = root.find(f".//{path}")
    if found is None:
        raise InputFormatError(file, path, "element missing")
    return found


def has(root: etree._Element, path: str) -> bool:
    return root.find(f".//{path}") is not None


def number(root: etree._Element, path: str, file: str | os.PathLike) -> float:
    element = find(root, path, file)
    try:
        return float((element.text or "").strip())
    except ValueError:
        raise InputFormatError(file, path, f"not a number: {element.text!r}") from None


def vector(root: etree._Element, path: str, file: str | os.PathLike, length: int | None = None) -> np.ndarray:
    """A FaceGen vector: `<path><m><count>N</count><item>..</item>..</m>` or `<path><m><elems><count>..`."""
    element = find(root, path, file)
    holder = element.find("m")
    holder = element if holder is None else holder
    if holder.find("elems") is not None:
        holder = holder.find("elems")
    items = holder.findall("item")
    try:
        values = np.array([float((i.text or "").strip()) for i in items])
    except ValueError:
        raise InputFormatError(file, f"{path}/item", "not a number") from None
    count = holder.find("count")
    if count is not None and int(count.text) != len(values):
        raise InputFormatError(file, path, f"count says {count.text} but {len(values)} items follow")
    if length is not None and len(values) != length:
        raise InputFormatError(file, path, f"has {len(values)} values, expected {length}")
    return values


def sub(parent: etree._Element, tag: str, text: object | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = _format(text)
    return element


def sub_vector(parent: etree._Element, tag: str, values, style: str = "count") -> etree._Element:
    element = etree.SubElement(parent, tag)
    holder = etree.SubElement(element, "m")
    if style == "elems":
        holder = etree.SubElement(holder, "elems")
    sub(holder, "count", len(values))
    for value in values:
        sub(holder, "item", value)
    return element


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def new_document(root_tag: str = "root") -> tuple[etree._Element, etree._Element]:
    """(<boost_serialization>, <root_tag>) for a new FaceGen XML file."""
    top = etree.Element("boost_serialization", signature="serialization::archive", version="10")
    return top, etree.SubElement(top, root_tag, class_id="0", tracking_level="0", version="0")


def save(top: etree._Element, path: str | os.PathLike) -> Path:
    """Write atomically (temporary file, then rename)."""
    return Path(write_atomic(Path(path), HEADER + etree.tostring(top, pretty_print=True)))
