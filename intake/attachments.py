"""Content-based type detection and metadata stripping for uploaded attachments."""

from __future__ import annotations

import io
import posixpath
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from xml.etree import ElementTree as ET
from xml.sax.saxutils import quoteattr

from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageCms, ImageOps
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

if TYPE_CHECKING:
    from django.utils.functional import Promise

__all__ = ["AttachmentRejected", "CleanFile", "sanitize_upload"]


# ---------------------------------------------------------------------------
# Public interface
# ---------------------------------------------------------------------------


class AttachmentRejected(ValueError):
    """Raised with a Chinese user-facing message (str(exc) / exc.message)."""

    def __init__(self, message: str | Promise) -> None:
        """Store the (possibly lazy) user-facing message."""
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        """Return the message, resolving lazy translations."""
        return str(self.message)


@dataclass(frozen=True)
class CleanFile:
    """A sanitized upload; the original bytes are never kept."""

    data: bytes
    mime: str
    extension: str
    kind: str
    filename: str


def sanitize_upload(*, name: str, data: bytes) -> CleanFile:
    """Detect the type of ``data`` by content and return a metadata-free copy.

    ``name`` is only used to build a safe display name; it never influences
    type detection. Raises :class:`AttachmentRejected` for anything that is not
    an allowed, well-formed file.
    """
    if not data:
        raise AttachmentRejected(MSG_EMPTY)
    payload = bytes(data)
    detected = _detect(payload)
    if detected is None:
        raise AttachmentRejected(MSG_UNSUPPORTED)
    if detected in _IMAGE_PIL_FORMATS:
        extension, clean = detected, _sanitize_image(payload, detected)
    elif detected == "pdf":
        extension, clean = detected, _sanitize_pdf(payload)
    elif detected == "zip":
        extension, clean = _sanitize_ooxml(payload)
    elif detected == "mp3":
        extension, clean = detected, _sanitize_mp3(payload)
    elif detected == "wav":
        extension, clean = detected, _sanitize_wav(payload)
    else:  # "amr"
        extension, clean = detected, _sanitize_amr(payload)
    mime, kind = _FORMATS[extension]
    return CleanFile(
        data=clean,
        mime=mime,
        extension=extension,
        kind=kind,
        filename=_display_name(name, extension),
    )


# ---------------------------------------------------------------------------
# Messages and limits
# ---------------------------------------------------------------------------

MSG_EMPTY: Final = _("文件为空，请重新选择文件后再上传。")
MSG_UNSUPPORTED: Final = _(
    "不支持的文件类型：仅接受图片（JPG/PNG/GIF/WEBP）、PDF、Office 文档（DOCX/XLSX/PPTX）和音频（MP3/WAV/AMR）。"
)
MSG_IMAGE_TOO_LARGE: Final = _("图片尺寸过大（超过 5000 万像素），请缩小后再上传。")
MSG_IMAGE_CORRUPT: Final = _("图片文件已损坏或无法识别，请检查后重新上传。")
MSG_PDF_ENCRYPTED: Final = _("不支持加密或设置了密码的 PDF，请移除密码或另存为普通 PDF 后再上传。")
MSG_PDF_CORRUPT: Final = _("PDF 文件已损坏或无法解析，请检查后重新上传。")
MSG_PDF_EMBEDDED_FILES: Final = _("PDF 中嵌入了其他文件，无法安全清除其中的个人信息，请将这些文件单独上传。")
MSG_OFFICE_TOO_LARGE: Final = _("Office 文档解压后过大或包含的文件过多，无法处理。")
MSG_OFFICE_CORRUPT: Final = _("Office 文档已损坏或无法解析，请检查后重新上传。")
MSG_OFFICE_MACRO: Final = _("不支持包含宏的 Office 文档，请另存为普通 DOCX/XLSX/PPTX 后再上传。")
MSG_AUDIO_CORRUPT: Final = _("音频文件已损坏或无法识别，请检查后重新上传。")

MAX_IMAGE_PIXELS: Final = 50_000_000
MAX_OOXML_UNCOMPRESSED_BYTES: Final = 100 * 1024 * 1024
MAX_OOXML_ENTRIES: Final = 5_000
MAX_FILENAME_LENGTH: Final = 120
DEFAULT_FILENAME_STEM: Final = "附件"
JPEG_QUALITY: Final = 90

_FORMATS: Final[dict[str, tuple[str, str]]] = {
    "jpg": ("image/jpeg", "image"),
    "png": ("image/png", "image"),
    "gif": ("image/gif", "image"),
    "webp": ("image/webp", "image"),
    "pdf": ("application/pdf", "pdf"),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "document",
    ),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "document",
    ),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "document",
    ),
    "mp3": ("audio/mpeg", "audio"),
    "wav": ("audio/wav", "audio"),
    "amr": ("audio/amr", "audio"),
}

# ---------------------------------------------------------------------------
# Content sniffing
# ---------------------------------------------------------------------------

_JPEG_MAGIC: Final = b"\xff\xd8\xff"
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_AMR_NB_MAGIC: Final = b"#!AMR\n"
_AMR_WB_MAGIC: Final = b"#!AMR-WB\n"


def _detect(data: bytes) -> str | None:
    """Return an internal format key based on magic bytes only."""
    result: str | None = None
    if data.startswith(_JPEG_MAGIC):
        result = "jpg"
    elif data.startswith(_PNG_MAGIC):
        result = "png"
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        result = "gif"
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        result = "webp"
    elif data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        result = "wav"
    elif data.startswith(b"%PDF-"):
        result = "pdf"
    elif data.startswith(b"PK\x03\x04"):
        result = "zip"
    elif data.startswith((_AMR_NB_MAGIC, _AMR_WB_MAGIC)):
        result = "amr"
    elif _id3v2_length(data, 0) or _mp3_frame(data, 0) is not None:
        result = "mp3"
    return result


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------

_IMAGE_PIL_FORMATS: Final[dict[str, str]] = {
    "jpg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WEBP",
}
_OUTPUT_MODES: Final[dict[str, frozenset[str]]] = {
    "JPEG": frozenset({"L", "RGB"}),
    "PNG": frozenset({"1", "L", "LA", "I", "I;16", "RGB", "RGBA", "P"}),
    "GIF": frozenset({"1", "L", "P"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
}


def _sanitize_image(data: bytes, extension: str) -> bytes:
    """Re-encode an image from its pixels only, applying EXIF orientation."""
    pil_format = _IMAGE_PIL_FORMATS[extension]
    try:
        with Image.open(io.BytesIO(data), formats=[pil_format]) as opened:
            width, height = opened.size
            if width <= 0 or height <= 0:
                raise AttachmentRejected(MSG_IMAGE_CORRUPT)
            if width * height > MAX_IMAGE_PIXELS:
                raise AttachmentRejected(MSG_IMAGE_TOO_LARGE)
            # Animated GIF/WEBP: only the first frame (already selected) is kept.
            opened.load()
            icc_profile = opened.info.get("icc_profile")
            ImageOps.exif_transpose(opened, in_place=True)
            image = _prepare_pixels(opened, pil_format, icc_profile)
            output = io.BytesIO()
            _save_image(image, pil_format, output)
    except AttachmentRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise AttachmentRejected(MSG_IMAGE_TOO_LARGE) from exc
    except Exception as exc:  # Pillow raises many types on malformed input.
        raise AttachmentRejected(MSG_IMAGE_CORRUPT) from exc
    return output.getvalue()


def _prepare_pixels(image: Image.Image, pil_format: str, icc_profile: bytes | None) -> Image.Image:
    """Convert to sRGB and a mode the encoder accepts; drop every info entry."""
    if icc_profile and image.mode in ("RGB", "RGBA", "CMYK"):
        image = _to_srgb(image, icc_profile)
    if image.mode not in _OUTPUT_MODES[pil_format]:
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        target = "RGBA" if has_alpha and pil_format != "JPEG" else "RGB"
        image = image.convert(target)
    transparency = image.info.get("transparency")
    # Replace the info dict entirely: it carries EXIF, XMP, ICC, comments and
    # PNG text chunks, which some encoders would otherwise write back.
    image.info = {}
    if transparency is not None and image.mode in ("1", "L", "P", "RGB"):
        image.info["transparency"] = transparency
    return image


def _to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image:
    """Convert pixels from an embedded colour profile to sRGB, best effort."""
    output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(
            image,
            source,
            ImageCms.createProfile("sRGB"),
            outputMode=output_mode,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        converted = None
    if converted is None:
        return image.convert(output_mode) if image.mode == "CMYK" else image
    return converted


def _save_image(image: Image.Image, pil_format: str, output: io.BytesIO) -> None:
    """Encode with no EXIF, XMP, ICC profile, comments or text chunks."""
    if pil_format == "JPEG":
        image.save(output, format="JPEG", quality=JPEG_QUALITY, exif=b"", optimize=True)
    elif pil_format == "WEBP":
        image.save(output, format="WEBP", quality=JPEG_QUALITY, exif=b"", xmp=b"")
    else:
        image.save(output, format=pil_format)


# ---------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------

_PDF_METADATA_KEYS: Final = ("/Metadata", "/PieceInfo")


def _sanitize_pdf(data: bytes) -> bytes:
    """Rewrite a PDF without the info dictionary, XMP streams or file ID."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise AttachmentRejected(MSG_PDF_ENCRYPTED)
        if len(reader.pages) == 0:
            raise AttachmentRejected(MSG_PDF_CORRUPT)
        # Scrub the reader's (cached) object graph before cloning, so that the
        # removed streams are not reachable and therefore never copied.
        if _scrub_pdf_graph(reader.root_object):
            raise AttachmentRejected(MSG_PDF_EMBEDDED_FILES)
        writer = PdfWriter()
        # Copies only the catalog tree: no /Info dictionary, no trailer /ID.
        writer.clone_reader_document_root(reader)
        writer.pdf_header = reader.pdf_header
        if writer.metadata is not None:
            writer.metadata = None
        output = io.BytesIO()
        writer.write(output)
    except AttachmentRejected:
        raise
    except Exception as exc:  # pypdf raises many types on malformed input.
        raise AttachmentRejected(MSG_PDF_CORRUPT) from exc
    return output.getvalue()


def _scrub_pdf_graph(root: DictionaryObject) -> bool:
    """Delete XMP and private app data everywhere; report embedded files."""
    has_embedded_files = False
    stack: list[object] = [root]
    seen: set[tuple[int, int]] = set()
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key in seen:
                continue
            seen.add(key)
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            for metadata_key in _PDF_METADATA_KEYS:
                if metadata_key in obj:
                    del obj[metadata_key]
            if "/EmbeddedFiles" in obj or "/EF" in obj or obj.get("/Subtype") == "/FileAttachment":
                has_embedded_files = True
            stack.extend(dict.values(obj))
        elif isinstance(obj, ArrayObject):
            stack.extend(list.__iter__(obj))
    return has_embedded_files


# ---------------------------------------------------------------------------
# Office Open XML (docx / xlsx / pptx)
# ---------------------------------------------------------------------------

_CT_NS: Final = "http://schemas.openxmlformats.org/package/2006/content-types"
_REL_NS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES_PART: Final = "[Content_Types].xml"
_ROOT_RELS_PART: Final = "_rels/.rels"
_MAIN_CONTENT_TYPES: Final[dict[str, str]] = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
}
_CORE_CT: Final = "application/vnd.openxmlformats-package.core-properties+xml"
_APP_CT: Final = "application/vnd.openxmlformats-officedocument.extended-properties+xml"
_CUSTOM_CT: Final = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
_CUSTOM_REL_SUFFIX: Final = "/custom-properties"
_REL_SUFFIX_TO_CT: Final[dict[str, str]] = {
    "/core-properties": _CORE_CT,
    "/extended-properties": _APP_CT,
    _CUSTOM_REL_SUFFIX: _CUSTOM_CT,
}
_ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
_READ_CHUNK: Final = 64 * 1024

_EMPTY_CORE_XML: Final = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b"<cp:coreProperties"
    b' xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
    b' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    b' xmlns:dcterms="http://purl.org/dc/terms/"'
    b' xmlns:dcmitype="http://purl.org/dc/dcmitype/"'
    b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
)
_EMPTY_APP_XML: Final = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b"<Properties"
    b' xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
    b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>'
)

# Best-effort scrubbing of people's names inside the document parts
# (tracked changes, comments, co-authoring) and of local file-system paths.
_PERSON_ATTR_RE: Final = re.compile(rb"(\s(?:[A-Za-z_][\w.-]*:)?(?:author|initials|userId))\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_NAME_ATTR_RE: Final = re.compile(rb"(\s(?:[A-Za-z_][\w.-]*:)?(?:name|displayName))\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_AUTHOR_ELEMENT_RE: Final = re.compile(rb"(<(?:[A-Za-z_][\w.-]*:)?author>)[^<]*(</(?:[A-Za-z_][\w.-]*:)?author>)")
_ABS_PATH_RE: Final = re.compile(rb"(<(?:[A-Za-z_][\w.-]*:)?absPath\b[^>]*?\surl)\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_REL_TARGET_RE: Final = re.compile(rb"(\sTarget\s*=\s*)(\"[^\"]*\"|'[^']*')")
_LOCAL_PATH_RE: Final = re.compile(rb"^(?:file:|[A-Za-z]:[\\/]|\\\\)", re.IGNORECASE)
_PEOPLE_PARTS_RE: Final = re.compile(
    r"^(?:ppt/commentAuthors\.xml|ppt/authors\.xml|xl/persons/[^/]+\.xml)$",
    re.IGNORECASE,
)
_XLSX_COMMENTS_RE: Final = re.compile(r"^xl/comments[^/]*\.xml$", re.IGNORECASE)


@dataclass(frozen=True)
class _PackageLayout:
    """Where the metadata parts of an OOXML package live."""

    extension: str
    core_parts: frozenset[str]
    app_parts: frozenset[str]
    dropped_parts: frozenset[str]


def _sanitize_ooxml(data: bytes) -> tuple[str, bytes]:
    """Validate a DOCX/XLSX/PPTX package and rewrite it without metadata."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = _checked_zip_entries(archive)
            members: dict[str, bytes] = {}
            remaining = MAX_OOXML_UNCOMPRESSED_BYTES
            for info in infos:
                content = _read_member(archive, info, remaining)
                remaining -= len(content)
                members[info.filename] = content
    except AttachmentRejected:
        raise
    except Exception as exc:  # zipfile/zlib raise many types on malformed input.
        raise AttachmentRejected(MSG_OFFICE_CORRUPT) from exc

    layout = _package_layout(members)
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in infos:
            name = info.filename
            if name.casefold() in layout.dropped_parts:
                continue
            content = _clean_member(name, members[name], layout)
            # Fresh ZipInfo: no original timestamps, extra fields or comments.
            entry = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, content)
    return layout.extension, output.getvalue()


def _checked_zip_entries(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Apply zip-bomb and sanity limits to the central directory."""
    infos = archive.infolist()
    if len(infos) > MAX_OOXML_ENTRIES:
        raise AttachmentRejected(MSG_OFFICE_TOO_LARGE)
    if sum(info.file_size for info in infos) > MAX_OOXML_UNCOMPRESSED_BYTES:
        raise AttachmentRejected(MSG_OFFICE_TOO_LARGE)
    names = [info.filename.casefold() for info in infos]
    if len(set(names)) != len(names):
        raise AttachmentRejected(MSG_OFFICE_CORRUPT)
    if any(info.flag_bits & 0x1 or not _is_safe_part_name(info.filename) for info in infos):
        raise AttachmentRejected(MSG_OFFICE_CORRUPT)
    return [info for info in infos if not info.is_dir()]


def _is_safe_part_name(name: str) -> bool:
    """Refuse absolute paths, backslashes and ".." segments (never valid in OPC)."""
    return bool(name) and not name.startswith("/") and "\\" not in name and ".." not in name.split("/")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, remaining: int) -> bytes:
    """Read one entry, never inflating more than declared or than ``remaining``."""
    limit = min(info.file_size, remaining)
    chunks: list[bytes] = []
    size = 0
    with archive.open(info) as handle:
        while chunk := handle.read(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise AttachmentRejected(MSG_OFFICE_TOO_LARGE)
            chunks.append(chunk)
    return b"".join(chunks)


def _parse_package_xml(content: bytes) -> ET.Element:
    """Parse a small package XML part, refusing DTDs (entity expansion)."""
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise AttachmentRejected(MSG_OFFICE_CORRUPT)
    try:
        # Package parts never carry a DTD (refused above) and the bundled expat
        # (>= 2.4.1) also limits entity amplification, so defusedxml is not needed.
        return ET.fromstring(content)  # noqa: S314
    except ET.ParseError as exc:
        raise AttachmentRejected(MSG_OFFICE_CORRUPT) from exc


def _package_layout(members: dict[str, bytes]) -> _PackageLayout:
    """Identify the document kind and its metadata parts from [Content_Types]."""
    by_folded = {name.casefold(): name for name in members}
    types_name = by_folded.get(_CONTENT_TYPES_PART.casefold())
    if types_name is None:
        raise AttachmentRejected(MSG_UNSUPPORTED)
    types = _parse_package_xml(members[types_name])
    if types.tag != f"{{{_CT_NS}}}Types":
        raise AttachmentRejected(MSG_UNSUPPORTED)

    kinds: set[str] = set()
    parts_by_type: dict[str, set[str]] = {
        _CORE_CT: set(),
        _APP_CT: set(),
        _CUSTOM_CT: set(),
    }
    for override in types.iter(f"{{{_CT_NS}}}Override"):
        content_type = (override.get("ContentType") or "").strip().lower()
        part = _part_key(override.get("PartName") or "")
        if "macroenabled" in content_type or "vbaproject" in content_type:
            raise AttachmentRejected(MSG_OFFICE_MACRO)
        if content_type in _MAIN_CONTENT_TYPES and part in by_folded:
            kinds.add(_MAIN_CONTENT_TYPES[content_type])
        if content_type in parts_by_type:
            parts_by_type[content_type].add(part)
    if len(kinds) != 1:
        raise AttachmentRejected(MSG_UNSUPPORTED)
    if any(name.endswith("vbaproject.bin") for name in by_folded):
        raise AttachmentRejected(MSG_OFFICE_MACRO)
    # Metadata parts may also live at non-default paths named only in _rels/.rels.
    rels_name = by_folded.get(_ROOT_RELS_PART)
    if rels_name is not None:
        for rel in _parse_package_xml(members[rels_name]).iter(f"{{{_REL_NS}}}Relationship"):
            rel_type = (rel.get("Type") or "").strip()
            if rel.get("TargetMode") == "External":
                continue
            for suffix, content_type in _REL_SUFFIX_TO_CT.items():
                if rel_type.endswith(suffix):
                    parts_by_type[content_type].add(_part_key(rel.get("Target") or ""))

    core = parts_by_type[_CORE_CT] | {"docprops/core.xml"}
    app = parts_by_type[_APP_CT] | {"docprops/app.xml"}
    custom = parts_by_type[_CUSTOM_CT] | {"docprops/custom.xml"}
    dropped = {part for part in custom if part in by_folded}
    # Drop the relationship parts of dropped parts as well.
    dropped |= {_rels_part_of(part) for part in dropped} & set(by_folded)
    return _PackageLayout(
        extension=kinds.pop(),
        core_parts=frozenset(core),
        app_parts=frozenset(app),
        dropped_parts=frozenset(dropped),
    )


def _part_key(part_name: str) -> str:
    """Normalise an OPC part name to a case-folded zip member name."""
    return posixpath.normpath("/" + part_name.strip()).lstrip("/").casefold()


def _rels_part_of(part: str) -> str:
    """Return the relationships part that belongs to ``part``."""
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{base}.rels")


def _clean_member(name: str, content: bytes, layout: _PackageLayout) -> bytes:
    """Return the sanitized content for one package member."""
    key = name.casefold()
    if key in layout.core_parts:
        return _EMPTY_CORE_XML
    if key in layout.app_parts:
        return _EMPTY_APP_XML
    if key == _CONTENT_TYPES_PART.casefold() and layout.dropped_parts:
        return _rewrite_content_types(content, layout.dropped_parts)
    if key.endswith(".rels"):
        if key == _ROOT_RELS_PART and layout.dropped_parts:
            content = _rewrite_root_rels(content, layout.dropped_parts)
        return _REL_TARGET_RE.sub(_scrub_rel_target, content)
    if key.endswith(".xml"):
        return _scrub_document_xml(key, content)
    return _strip_embedded_image(content)


def _rewrite_content_types(content: bytes, dropped: frozenset[str]) -> bytes:
    """Rebuild [Content_Types].xml without overrides for dropped parts."""
    types = _parse_package_xml(content)
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f"<Types xmlns={quoteattr(_CT_NS)}>",
    ]
    for default in types.iter(f"{{{_CT_NS}}}Default"):
        extension = quoteattr(default.get("Extension") or "")
        content_type = quoteattr(default.get("ContentType") or "")
        lines.append(f"<Default Extension={extension} ContentType={content_type}/>")
    for override in types.iter(f"{{{_CT_NS}}}Override"):
        part_name = override.get("PartName") or ""
        if _part_key(part_name) in dropped:
            continue
        content_type = quoteattr(override.get("ContentType") or "")
        lines.append(f"<Override PartName={quoteattr(part_name)} ContentType={content_type}/>")
    lines.append("</Types>")
    return "".join(lines).encode()


def _rewrite_root_rels(content: bytes, dropped: frozenset[str]) -> bytes:
    """Rebuild _rels/.rels without relationships to dropped parts."""
    relationships = _parse_package_xml(content)
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f"<Relationships xmlns={quoteattr(_REL_NS)}>",
    ]
    for rel in relationships.iter(f"{{{_REL_NS}}}Relationship"):
        rel_type = rel.get("Type") or ""
        target = rel.get("Target") or ""
        external = (rel.get("TargetMode") or "") == "External"
        if rel_type.endswith(_CUSTOM_REL_SUFFIX) or (not external and _part_key(target) in dropped):
            continue
        attributes = " ".join(
            f"{attr}={quoteattr(value)}"
            for attr in ("Id", "Type", "Target", "TargetMode")
            if (value := rel.get(attr)) is not None
        )
        lines.append(f"<Relationship {attributes}/>")
    lines.append("</Relationships>")
    return "".join(lines).encode()


def _scrub_rel_target(match: re.Match[bytes]) -> bytes:
    """Reduce local file-system targets (e.g. C:\\Users\\name\\...) to a base name."""
    quoted = match.group(2)
    value = quoted[1:-1]
    if not _LOCAL_PATH_RE.match(value):
        return match.group(0)
    base = re.split(rb"[\\/]", value)[-1]
    quote = quoted[:1]
    return match.group(1) + quote + base + quote


def _scrub_document_xml(key: str, content: bytes) -> bytes:
    """Blank author names, user ids and absolute paths inside document parts."""
    if not key.startswith(("word/", "xl/", "ppt/")):
        return content
    content = _PERSON_ATTR_RE.sub(rb'\1=""', content)
    content = _ABS_PATH_RE.sub(rb'\1=""', content)
    if _PEOPLE_PARTS_RE.match(key):
        content = _NAME_ATTR_RE.sub(rb'\1=""', content)
    if _XLSX_COMMENTS_RE.match(key):
        content = _AUTHOR_ELEMENT_RE.sub(rb"\1\2", content)
    return content


# Embedded pictures: lossless removal of metadata segments / chunks.

_JPEG_STANDALONE_MARKERS: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_SOS: Final = 0xDA
_JPEG_EOI: Final = b"\xff\xd9"
_JPEG_COM: Final = 0xFE
_PNG_KEEP_CHUNKS: Final = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"gAMA",
        b"cHRM",
        b"sRGB",
        b"sBIT",
        b"bKGD",
        b"pHYs",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)


def _strip_embedded_image(content: bytes) -> bytes:
    """Strip metadata from JPEG/PNG pictures embedded in an Office package."""
    stripped: bytes | None = None
    if content.startswith(_JPEG_MAGIC):
        stripped = _strip_jpeg_segments(content)
    elif content.startswith(_PNG_MAGIC):
        stripped = _strip_png_chunks(content)
    return content if stripped is None else stripped


def _keep_jpeg_segment(marker: int, body: bytes) -> bool:
    """Keep only segments needed to decode and colour-manage the picture."""
    if marker == _JPEG_COM:
        return False
    if 0xE0 <= marker <= 0xEF:  # APPn
        return (
            (marker == 0xE0 and body.startswith(b"JFIF\x00"))
            or (marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"))
            or (marker == 0xEE and body.startswith(b"Adobe"))
        )
    return True


def _strip_jpeg_segments(data: bytes) -> bytes | None:
    """Drop EXIF/XMP/IPTC/MPF/comment segments of a JPEG without re-encoding."""
    out = [data[:2]]
    pos = 2
    size = len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in _JPEG_STANDALONE_MARKERS:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        if marker == _JPEG_SOS:
            end = data.find(_JPEG_EOI, pos + 2)
            # Anything after EOI (e.g. MPF secondary images) is discarded.
            out.append(data[pos:] if end < 0 else data[pos : end + 2])
            return b"".join(out)
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > size:
            return None
        if _keep_jpeg_segment(marker, data[pos + 4 : pos + 2 + length]):
            out.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return None


def _strip_png_chunks(data: bytes) -> bytes | None:
    """Drop text, EXIF, time and ICC chunks of a PNG without re-encoding."""
    out = [_PNG_MAGIC]
    pos = len(_PNG_MAGIC)
    size = len(data)
    while pos + 12 <= size:
        (length,) = struct.unpack_from(">I", data, pos)
        chunk_type = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > size:
            return None
        if chunk_type in _PNG_KEEP_CHUNKS:
            out.append(data[pos:end])
        pos = end
        if chunk_type == b"IEND":
            return b"".join(out)
    return None


# ---------------------------------------------------------------------------
# MP3
# ---------------------------------------------------------------------------

# Layer III bitrates in kbit/s, indexed by the 4-bit header field (15 is invalid).
_MP3_BITRATES_MPEG1: Final = (
    *(0, 32, 40, 48, 56, 64, 80, 96),
    *(112, 128, 160, 192, 224, 256, 320),
)
_MP3_BITRATES_MPEG2: Final = (
    *(0, 8, 16, 24, 32, 40, 48, 56),
    *(64, 80, 96, 112, 128, 144, 160),
)
_MP3_SAMPLE_RATES: Final[dict[int, tuple[int, int, int]]] = {
    3: (44100, 48000, 32000),  # MPEG-1
    2: (22050, 24000, 16000),  # MPEG-2
    0: (11025, 12000, 8000),  # MPEG-2.5
}
_ID3V1_SIZE: Final = 128
# Bound the work spent on garbage so crafted input cannot burn CPU.
_MP3_MAX_RESYNCS: Final = 10_000


def _byte_class(values: list[int]) -> bytes:
    """Build a regex character class matching exactly the given byte values."""
    return b"[" + b"".join(re.escape(bytes([value])) for value in values) + b"]"


# A plausible layer III header (valid version, bitrate, rate and emphasis) or
# the start of a metadata tag.
_MP3_RESYNC_RE: Final = re.compile(
    b"ID3|APETAGEX|TAG|\\xff"
    + _byte_class([b for b in range(256) if b & 0xE6 == 0xE2 and b & 0x18 != 0x08])
    + _byte_class([b for b in range(256) if 0 < b >> 4 < 15 and b & 0x0C != 0x0C])
    + _byte_class([b for b in range(256) if b & 0x03 != 0x02])
)
_ID3V1_EXTENDED_SIZE: Final = 227
_APE_HEADER_SIZE: Final = 32


@dataclass(frozen=True)
class _Mp3Frame:
    """Length and stream parameters of one MPEG audio layer III frame."""

    length: int
    version: int
    sample_rate: int


def _mp3_frame(data: bytes, pos: int) -> _Mp3Frame | None:
    """Parse an MPEG layer III frame header at ``pos``."""
    if pos + 4 > len(data) or data[pos] != 0xFF:
        return None
    b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
    version = (b1 >> 3) & 0x3
    layer = (b1 >> 1) & 0x3
    bitrate_index = b2 >> 4
    rate_index = (b2 >> 2) & 0x3
    valid = (
        (b1 & 0xE0) == 0xE0
        and version != 1
        and layer == 1
        and 0 < bitrate_index < 15  # 0 = free format (unsupported), 15 = bad
        and rate_index != 3  # reserved
        and (b3 & 0x3) != 2  # reserved emphasis
    )
    if not valid:
        return None
    sample_rate = _MP3_SAMPLE_RATES[version][rate_index]
    padding = (b2 >> 1) & 0x1
    if version == 3:  # MPEG-1
        length = 144_000 * _MP3_BITRATES_MPEG1[bitrate_index] // sample_rate + padding
    else:
        length = 72_000 * _MP3_BITRATES_MPEG2[bitrate_index] // sample_rate + padding
    return _Mp3Frame(length=length, version=version, sample_rate=sample_rate)


def _id3v2_length(data: bytes, pos: int) -> int:
    """Return the full length of an ID3v2 tag at ``pos`` (0 if none)."""
    header = data[pos : pos + 10]
    if len(header) < 10 or header[:3] != b"ID3":
        return 0
    if header[3] == 0xFF or header[4] == 0xFF or any(b & 0x80 for b in header[6:10]):
        return 0
    size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]
    footer = 10 if header[5] & 0x10 else 0
    return 10 + size + footer


def _mp3_tag_length(data: bytes, pos: int) -> int:
    """Return the length of a metadata tag starting at ``pos`` (0 if none)."""
    remaining = len(data) - pos
    length = _id3v2_length(data, pos)
    if length:
        return length
    if data.startswith(b"3DI", pos):  # ID3v2.4 footer
        return min(10, remaining)
    if data.startswith(b"TAG+", pos) and remaining == _ID3V1_EXTENDED_SIZE + _ID3V1_SIZE:
        return remaining
    if data.startswith(b"TAG", pos) and remaining == _ID3V1_SIZE:
        return remaining
    if data.startswith(b"APETAGEX", pos) and remaining >= _APE_HEADER_SIZE:
        (tag_size,) = struct.unpack_from("<I", data, pos + 12)
        (flags,) = struct.unpack_from("<I", data, pos + 20)
        is_header = bool(flags & (1 << 29))
        return _APE_HEADER_SIZE + tag_size if is_header else _APE_HEADER_SIZE
    return 0


def _sanitize_mp3(data: bytes) -> bytes:
    """Keep only MPEG audio frames, dropping ID3v1/v2, APE and any other bytes."""
    frames: list[bytes] = []
    reference: tuple[int, int] | None = None
    synced = True
    resyncs = 0
    pos = 0
    size = len(data)
    while pos < size:
        tag_length = _mp3_tag_length(data, pos)
        if tag_length:
            pos += tag_length
            synced = True
            continue
        frame = _mp3_frame(data, pos)
        if frame is not None and _accept_mp3_frame(data, pos, frame, reference, synced):
            reference = (frame.version, frame.sample_rate)
            frames.append(data[pos : pos + frame.length])
            pos += frame.length
            synced = True
            continue
        synced = False
        resyncs += 1
        if resyncs > _MP3_MAX_RESYNCS:
            raise AttachmentRejected(MSG_AUDIO_CORRUPT)
        candidate = _MP3_RESYNC_RE.search(data, pos + 1)
        if candidate is None:
            break
        pos = candidate.start()
    if not frames:
        raise AttachmentRejected(MSG_AUDIO_CORRUPT)
    return b"".join(frames)


def _accept_mp3_frame(
    data: bytes,
    pos: int,
    frame: _Mp3Frame,
    reference: tuple[int, int] | None,
    synced: bool,
) -> bool:
    """Decide whether a candidate frame header is real audio, not a false sync."""
    end = pos + frame.length
    if end > len(data):
        return False
    if reference is not None and reference != (frame.version, frame.sample_rate):
        return False
    if synced:
        return True
    # After garbage, require the next frame (or a tag / end of file) to follow.
    return end == len(data) or bool(_mp3_tag_length(data, end)) or (_mp3_frame(data, end) is not None)


# ---------------------------------------------------------------------------
# WAV
# ---------------------------------------------------------------------------

_WAV_KEPT_CHUNKS: Final = (b"fmt ", b"fact", b"data")
_WAV_MIN_FMT_SIZE: Final = 16
_WAV_MAX_CHUNKS: Final = 10_000
_MAX_RIFF_SIZE: Final = 0xFFFFFFFF


def _sanitize_wav(data: bytes) -> bytes:
    """Rebuild a RIFF/WAVE file from its fmt, fact and data chunks only."""
    chunks: dict[bytes, bytes] = {}
    pos = 12
    size = len(data)
    for _index in range(_WAV_MAX_CHUNKS):
        if pos + 8 > size:
            break
        chunk_id = data[pos : pos + 4]
        (chunk_size,) = struct.unpack_from("<I", data, pos + 4)
        start = pos + 8
        end = start + chunk_size
        if end > size:
            if chunk_id != b"data":
                break
            end = size  # Tolerate streaming writers that never fixed the size.
        if chunk_id in _WAV_KEPT_CHUNKS and chunk_id not in chunks:
            chunks[chunk_id] = data[start:end]
        pos = end + (chunk_size & 1)
    else:
        raise AttachmentRejected(MSG_AUDIO_CORRUPT)
    fmt = chunks.get(b"fmt ")
    if fmt is None or b"data" not in chunks or len(fmt) < _WAV_MIN_FMT_SIZE:
        raise AttachmentRejected(MSG_AUDIO_CORRUPT)
    channels, sample_rate = struct.unpack_from("<HI", fmt, 2)
    if channels == 0 or sample_rate == 0:
        raise AttachmentRejected(MSG_AUDIO_CORRUPT)
    body = b"WAVE" + b"".join(_riff_chunk(chunk_id, chunks[chunk_id]) for chunk_id in _WAV_KEPT_CHUNKS if chunk_id in chunks)
    if len(body) > _MAX_RIFF_SIZE:
        raise AttachmentRejected(MSG_AUDIO_CORRUPT)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _riff_chunk(chunk_id: bytes, payload: bytes) -> bytes:
    """Serialise one RIFF chunk, including the pad byte for odd sizes."""
    padding = b"\x00" if len(payload) & 1 else b""
    return chunk_id + struct.pack("<I", len(payload)) + payload + padding


# ---------------------------------------------------------------------------
# AMR
# ---------------------------------------------------------------------------

# Frame sizes (ToC byte included) per frame type, as in RFC 4867 storage format.
_AMR_NB_FRAME_SIZES: Final = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)
_AMR_WB_FRAME_SIZES: Final = (18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 1, 1, 1, 1, 1, 1)
_AMR_TOC_RESERVED_BITS: Final = 0x83
# About 11 hours of audio; beyond that the remainder is passed through as is.
_AMR_MAX_CHECKED_FRAMES: Final = 2_000_000


def _sanitize_amr(data: bytes) -> bytes:
    """Validate single-channel AMR-NB/WB framing; drop trailing non-frame bytes."""
    if data.startswith(_AMR_WB_MAGIC):
        pos, sizes = len(_AMR_WB_MAGIC), _AMR_WB_FRAME_SIZES
    else:
        pos, sizes = len(_AMR_NB_MAGIC), _AMR_NB_FRAME_SIZES
    frames = 0
    size = len(data)
    while pos < size:
        if frames >= _AMR_MAX_CHECKED_FRAMES:
            return data
        toc = data[pos]
        if toc & _AMR_TOC_RESERVED_BITS:
            break
        frame_size = sizes[(toc >> 3) & 0x0F]
        if pos + frame_size > size:
            break
        pos += frame_size
        frames += 1
    if frames == 0:
        raise AttachmentRejected(MSG_AUDIO_CORRUPT)
    return data[:pos]


# ---------------------------------------------------------------------------
# Display name
# ---------------------------------------------------------------------------

_DROPPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_UNSAFE_NAME_CHARS_RE: Final = re.compile(r'[<>:"|?*]')
_WHITESPACE_RE: Final = re.compile(r"\s+")
_EXTENSION_LIKE_RE: Final = re.compile(r"^(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{1,5}$")


def _display_name(name: str, extension: str) -> str:
    """Build a safe display name that carries the canonical extension."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(char for char in base if unicodedata.category(char) not in _DROPPED_CATEGORIES)
    base = _WHITESPACE_RE.sub(" ", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot or not _EXTENSION_LIKE_RE.match(suffix):
        stem = base
    stem = _UNSAFE_NAME_CHARS_RE.sub("_", stem).strip(" .")
    if not stem:
        stem = DEFAULT_FILENAME_STEM
    stem = stem[: MAX_FILENAME_LENGTH - len(extension) - 1].rstrip(" .")
    return f"{stem}.{extension}"
