"""Tests for attachment sanitizing."""

from __future__ import annotations

import io
import os
import re
import struct
import wave
import zipfile
import zlib

import pytest
from django.conf import settings
from PIL import ExifTags, Image, PngImagePlugin
from pypdf import PdfReader, PdfWriter

from intake.attachments import AttachmentRejected, CleanFile, sanitize_upload

CANARY = "CanaryZhangSan"
CANARY_BYTES = CANARY.encode()
CJK_RE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True, scope="module")
def _lazy_translations_work() -> None:
    """Let lazy messages render when the suite runs without Django settings."""
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.configure(USE_I18N=False)


def assert_rejected_in_chinese(name: str, data: bytes) -> AttachmentRejected:
    with pytest.raises(AttachmentRejected) as excinfo:
        sanitize_upload(name=name, data=data)
    message = str(excinfo.value)
    assert CJK_RE.search(message), message
    assert str(excinfo.value.message) == message
    return excinfo.value


# ---------------------------------------------------------------------------
# Fixture builders
# ---------------------------------------------------------------------------


def make_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = CANARY
    exif[ExifTags.Base.Make] = "CanaryPhoneMaker"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (39.0, 54.0, 27.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (116.0, 23.0, 50.0),
    }
    return exif


def make_jpeg_with_gps(size: tuple[int, int] = (40, 20), orientation: int = 1) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    buffer = io.BytesIO()
    image.save(
        buffer,
        format="JPEG",
        exif=make_exif(orientation),
        comment=CANARY_BYTES,
        xmp=f"<x:xmpmeta><dc:creator>{CANARY}</dc:creator></x:xmpmeta>".encode(),
    )
    return buffer.getvalue()


def make_png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", CANARY)
    info.add_itxt("Description", CANARY, zip=True)
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 255, 128)).save(buffer, format="PNG", pnginfo=info, exif=make_exif())
    return buffer.getvalue()


def make_gif_with_comment() -> bytes:
    frames = [Image.new("P", (8, 8), color) for color in (1, 2, 3)]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        comment=CANARY_BYTES,
    )
    return buffer.getvalue()


def make_webp_with_exif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 128, 0)).save(
        buffer,
        format="WEBP",
        exif=make_exif(),
        xmp=f"<x:xmpmeta>{CANARY}</x:xmpmeta>".encode(),
    )
    return buffer.getvalue()


def make_png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


XMP_PACKET = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    f"<dc:creator><rdf:Seq><rdf:li>{CANARY}</rdf:li></rdf:Seq></dc:creator>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="w"?>'
).encode()


def make_pdf(*, encrypt: bool = False, attachment: bool = False) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata(
        {
            "/Author": CANARY,
            "/Creator": f"{CANARY} Writer",
            "/Producer": f"{CANARY} Producer",
            "/Title": f"{CANARY} Title",
            "/Subject": f"{CANARY} Subject",
            "/Keywords": f"{CANARY} Keywords",
        }
    )
    writer.xmp_metadata = XMP_PACKET
    if attachment:
        writer.add_attachment("note.txt", b"hello")
    if encrypt:
        writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


CONTENT_TYPES_DOCX = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Default Extension="jpeg" ContentType="image/jpeg"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/docProps/core.xml" '
    'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    '<Override PartName="/docProps/custom.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.custom-properties+xml"/>'
    "</Types>"
)
ROOT_RELS_DOCX = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="word/document.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
    'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/extended-properties" Target="docProps/app.xml"/>'
    '<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/custom-properties" Target="docProps/custom.xml"/>'
    "</Relationships>"
)
CORE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    "<cp:coreProperties "
    'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    f"<dc:creator>{CANARY}</dc:creator>"
    f"<cp:lastModifiedBy>{CANARY}</cp:lastModifiedBy>"
    f"<dc:title>{CANARY} title</dc:title>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">2024-05-01T08:00:00Z</dcterms:created>'
    "</cp:coreProperties>"
)
APP_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    "<Properties "
    'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    f"<Company>{CANARY} Company</Company><Manager>{CANARY} Boss</Manager>"
    "<Application>Microsoft Office Word</Application></Properties>"
)
CUSTOM_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    "<Properties "
    'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties">'
    f"<property name='Owner'>{CANARY}</property></Properties>"
)
DOCUMENT_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>举报内容</w:t></w:r>"
    f'<w:ins w:id="1" w:author="{CANARY}" w:date="2024-05-01T08:00:00Z">'
    "<w:r><w:t>修订</w:t></w:r></w:ins></w:p></w:body></w:document>"
)
SETTINGS_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/attachedTemplate" '
    f'Target="file:///C:\\Users\\{CANARY}\\Templates\\Normal.dotm" '
    'TargetMode="External"/></Relationships>'
)


def build_zip(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 8, 30, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def make_docx() -> bytes:
    return build_zip(
        {
            "[Content_Types].xml": CONTENT_TYPES_DOCX,
            "_rels/.rels": ROOT_RELS_DOCX,
            "word/document.xml": DOCUMENT_XML,
            "word/_rels/settings.xml.rels": SETTINGS_RELS,
            "word/media/image1.jpeg": make_jpeg_with_gps(),
            "docProps/core.xml": CORE_XML,
            "docProps/app.xml": APP_XML,
            "docProps/custom.xml": CUSTOM_XML,
        }
    )


def make_ooxml(main_part: str, main_type: str) -> bytes:
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{main_part}" ContentType="{main_type}"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        "</Types>"
    )
    return build_zip(
        {
            "[Content_Types].xml": content_types,
            main_part: "<root/>",
            "docProps/core.xml": CORE_XML,
        }
    )


def id3v2_tag(text: str) -> bytes:
    payload = b"\x03" + text.encode()  # UTF-8 text encoding
    frame = b"TPE1" + struct.pack(">I", len(payload)) + b"\x00\x00" + payload
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + frame


MP3_FRAME = b"\xff\xfb\x90\x00" + b"\x00" * (417 - 4)  # MPEG-1 L3 128k 44.1k


def make_mp3(frame_count: int = 5) -> bytes:
    ape_items = b"Artist\x00" + CANARY_BYTES
    ape_footer = b"APETAGEX" + struct.pack("<IIII", 2000, len(ape_items) + 32, 1, 0) + b"\x00" * 8
    id3v1 = b"TAG" + CANARY_BYTES.ljust(30, b"\x00") + b"\x00" * (128 - 33)
    return id3v2_tag(CANARY) + id3v2_tag(f"{CANARY} again") + MP3_FRAME * frame_count + ape_items + ape_footer + id3v1


def make_wav_with_info() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x01\x00" * 801)
    plain = buffer.getvalue()
    artist = CANARY_BYTES + b"\x00"
    info = b"INFO" + b"IART" + struct.pack("<I", len(artist)) + artist
    if len(artist) % 2:
        info += b"\x00"
    list_chunk = b"LIST" + struct.pack("<I", len(info)) + info
    body = plain[12:36] + list_chunk + plain[36:]  # after the fmt chunk
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------


def test_it_strips_gps_exif_from_jpeg() -> None:
    source = make_jpeg_with_gps()
    assert CANARY_BYTES in source

    clean = sanitize_upload(name="IMG_0001.JPG", data=source)

    assert (clean.mime, clean.extension, clean.kind) == ("image/jpeg", "jpg", "image")
    assert CANARY_BYTES not in clean.data
    assert b"CanaryPhoneMaker" not in clean.data
    assert b"Exif\x00\x00" not in clean.data
    assert b"http://ns.adobe.com/xap/1.0/" not in clean.data
    with Image.open(io.BytesIO(clean.data)) as image:
        exif = image.getexif()
        assert ExifTags.IFD.GPSInfo not in exif
        assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
        assert len(exif) == 0
        assert "comment" not in image.info
        assert image.format == "JPEG"


def test_it_applies_exif_orientation_before_dropping_it() -> None:
    source = make_jpeg_with_gps(size=(40, 20), orientation=6)

    clean = sanitize_upload(name="rotated.jpg", data=source)

    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.size == (20, 40)
        assert ExifTags.Base.Orientation not in image.getexif()


def test_it_removes_png_text_chunks_and_exif() -> None:
    source = make_png_with_text()
    assert CANARY_BYTES in source or b"tEXt" in source

    clean = sanitize_upload(name="screen.png", data=source)

    assert clean.extension == "png"
    for chunk_type in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP"):
        assert chunk_type not in clean.data
    assert CANARY_BYTES not in clean.data
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0)) == (0, 0, 255, 128)


def test_it_flattens_animated_gif_and_drops_comment() -> None:
    clean = sanitize_upload(name="anim.gif", data=make_gif_with_comment())

    assert clean.mime == "image/gif"
    assert CANARY_BYTES not in clean.data
    with Image.open(io.BytesIO(clean.data)) as image:
        assert getattr(image, "n_frames", 1) == 1
        assert "comment" not in image.info


def test_it_strips_exif_and_xmp_from_webp() -> None:
    clean = sanitize_upload(name="pic.webp", data=make_webp_with_exif())

    assert (clean.mime, clean.extension) == ("image/webp", "webp")
    assert CANARY_BYTES not in clean.data
    assert b"EXIF" not in clean.data
    assert b"XMP " not in clean.data
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.format == "WEBP"
        assert len(image.getexif()) == 0


def test_it_detects_image_type_by_content_not_by_name() -> None:
    clean = sanitize_upload(name="holiday.pdf", data=make_png_with_text())

    assert clean.extension == "png"
    assert clean.filename == "holiday.png"


@pytest.mark.parametrize("side", [8_000, 20_000])
def test_it_rejects_decompression_bomb_images(side: int) -> None:
    bomb = make_png_header_only(side, side)

    error = assert_rejected_in_chinese("bomb.png", bomb)

    assert "像素" in str(error)


def test_it_rejects_corrupt_images() -> None:
    assert_rejected_in_chinese("broken.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    truncated = make_jpeg_with_gps(size=(200, 200))[:-400]
    assert_rejected_in_chinese("truncated.jpg", truncated)


# ---------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------


def test_it_removes_pdf_info_and_xmp_metadata() -> None:
    source = make_pdf()
    assert CANARY_BYTES in source

    clean = sanitize_upload(name="证据.pdf", data=source)

    assert (clean.mime, clean.extension, clean.kind) == (
        "application/pdf",
        "pdf",
        "pdf",
    )
    assert CANARY_BYTES not in clean.data
    assert b"pypdf" not in clean.data
    reader = PdfReader(io.BytesIO(clean.data))
    assert len(reader.pages) == 1
    assert not reader.metadata
    assert "/Metadata" not in reader.root_object
    assert "/ID" not in reader.trailer


def test_it_rejects_encrypted_pdf() -> None:
    error = assert_rejected_in_chinese("locked.pdf", make_pdf(encrypt=True))

    assert "加密" in str(error)


def test_it_rejects_unparsable_pdf() -> None:
    assert_rejected_in_chinese("bad.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 20)


def test_it_rejects_pdf_with_embedded_files() -> None:
    assert_rejected_in_chinese("with-file.pdf", make_pdf(attachment=True))


# ---------------------------------------------------------------------------
# Office Open XML
# ---------------------------------------------------------------------------


def unpacked(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {info.filename: archive.read(info) for info in archive.infolist()}


def test_it_empties_docx_core_and_app_properties() -> None:
    source = make_docx()

    clean = sanitize_upload(name="report.zip", data=source)

    assert (clean.extension, clean.kind) == ("docx", "document")
    assert clean.mime == ("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    assert clean.filename == "report.docx"
    parts = unpacked(clean.data)
    for name, content in parts.items():
        assert CANARY_BYTES not in content, name
    assert b"creator" not in parts["docProps/core.xml"]
    assert b"Company" not in parts["docProps/app.xml"]
    assert "举报内容".encode() in parts["word/document.xml"]


def test_it_drops_docx_custom_properties_with_their_references() -> None:
    parts = unpacked(sanitize_upload(name="a.docx", data=make_docx()).data)

    assert "docProps/custom.xml" not in parts
    assert b"custom" not in parts["[Content_Types].xml"]
    assert b"custom-properties" not in parts["_rels/.rels"]
    assert b"word/document.xml" in parts["_rels/.rels"]
    assert b"/word/document.xml" in parts["[Content_Types].xml"]


def test_it_resets_zip_entry_timestamps_and_strips_embedded_photo_exif() -> None:
    clean = sanitize_upload(name="a.docx", data=make_docx())

    with zipfile.ZipFile(io.BytesIO(clean.data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        photo = archive.read("word/media/image1.jpeg")
    with Image.open(io.BytesIO(photo)) as image:
        image.load()
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert b"Normal.dotm" in unpacked(clean.data)["word/_rels/settings.xml.rels"]


@pytest.mark.parametrize(
    ("main_part", "main_type", "extension"),
    [
        (
            "xl/workbook.xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            "xlsx",
        ),
        (
            "ppt/presentation.xml",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            "pptx",
        ),
    ],
)
def test_it_detects_xlsx_and_pptx_by_main_part(main_part: str, main_type: str, extension: str) -> None:
    clean = sanitize_upload(name="data.bin", data=make_ooxml(main_part, main_type))

    assert clean.extension == extension
    assert clean.kind == "document"
    assert CANARY_BYTES not in b"".join(unpacked(clean.data).values())


def test_it_blanks_people_and_local_paths_inside_xlsx_parts() -> None:
    main_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    base = unpacked(make_ooxml("xl/workbook.xml", main_type))
    base["xl/workbook.xml"] = (
        '<workbook xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac">'
        f'<x15ac:absPath url="C:\\Users\\{CANARY}\\Desktop\\"/></workbook>'
    ).encode()
    base["xl/comments1.xml"] = f"<comments><authors><author>{CANARY}</author></authors></comments>".encode()
    base["xl/persons/person.xml"] = (
        f'<personList><person displayName="{CANARY}" id="{{1}}" userId="{CANARY}@example.com" providerId="AD"/></personList>'
    ).encode()

    clean = sanitize_upload(name="sheet.xlsx", data=build_zip(dict(base)))

    parts = unpacked(clean.data)
    assert clean.extension == "xlsx"
    for name, content in parts.items():
        assert CANARY_BYTES not in content, name
    assert b"<authors><author></author></authors>" in parts["xl/comments1.xml"]
    assert b'providerId="AD"' in parts["xl/persons/person.xml"]


def test_it_rejects_office_zip_with_path_traversal_entries() -> None:
    main_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    entries: dict[str, bytes | str] = dict(unpacked(make_ooxml("word/document.xml", main_type)))
    entries["../../evil.sh"] = "#!/bin/sh"

    assert_rejected_in_chinese("trick.docx", build_zip(entries))


def test_it_rejects_plain_zip() -> None:
    archive = build_zip({"readme.txt": "hello", "photo.jpg": make_jpeg_with_gps()})

    error = assert_rejected_in_chinese("report.docx", archive)

    assert "不支持的文件类型" in str(error)


def test_it_rejects_macro_enabled_documents() -> None:
    docm = make_ooxml("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml")

    assert_rejected_in_chinese("macro.docx", docm)


def test_it_rejects_zip_bombs() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES_DOCX)
        archive.writestr("word/document.xml", DOCUMENT_XML)
        archive.writestr("word/media/filler.bin", b"\x00" * (101 * 1024 * 1024))
    bomb = buffer.getvalue()
    assert len(bomb) < 1024 * 1024

    assert_rejected_in_chinese("bomb.docx", bomb)


def test_it_rejects_zip_with_too_many_entries() -> None:
    entries: dict[str, bytes | str] = {"[Content_Types].xml": CONTENT_TYPES_DOCX}
    entries.update({f"word/x{index}.xml": "" for index in range(5_001)})

    assert_rejected_in_chinese("many.docx", build_zip(entries))


# ---------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------


def test_it_strips_id3_and_ape_tags_from_mp3() -> None:
    source = make_mp3(frame_count=5)
    assert CANARY_BYTES in source

    clean = sanitize_upload(name="录音.mp3", data=source)

    assert (clean.mime, clean.extension, clean.kind) == ("audio/mpeg", "mp3", "audio")
    assert CANARY_BYTES not in clean.data
    assert b"ID3" not in clean.data
    assert b"TAG" not in clean.data
    assert b"APETAGEX" not in clean.data
    assert clean.data == MP3_FRAME * 5


def test_it_accepts_mp3_without_tags() -> None:
    clean = sanitize_upload(name="x.mp3", data=MP3_FRAME * 3)

    assert clean.data == MP3_FRAME * 3


def test_it_drops_wav_list_info_chunk_and_rebuilds_sizes() -> None:
    source = make_wav_with_info()
    assert CANARY_BYTES in source

    clean = sanitize_upload(name="memo.wav", data=source)

    assert (clean.mime, clean.extension) == ("audio/wav", "wav")
    assert CANARY_BYTES not in clean.data
    assert b"LIST" not in clean.data
    assert struct.unpack_from("<I", clean.data, 4)[0] == len(clean.data) - 8
    with wave.open(io.BytesIO(clean.data), "rb") as reader:
        assert reader.getframerate() == 8000
        assert reader.getnframes() == 801
        assert reader.readframes(801) == b"\x01\x00" * 801


def test_it_passes_amr_through_after_header_validation() -> None:
    frames = bytes([0x3C]) + b"\x11" * 31  # AMR-NB 12.2 kbit/s frame
    source = b"#!AMR\n" + frames * 4

    clean = sanitize_upload(name="voice.AMR", data=source)

    assert (clean.mime, clean.extension, clean.kind) == ("audio/amr", "amr", "audio")
    assert clean.data == source
    assert clean.filename == "voice.amr"


def test_it_rejects_amr_header_without_frames() -> None:
    assert_rejected_in_chinese("voice.amr", b"#!AMR\n")


# ---------------------------------------------------------------------------
# Rejections by content
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.jpg", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200),
        ("photo.jpg", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504),
        ("notes.txt", "普通文本".encode()),
        ("elf.mp3", b"\x7fELF\x02\x01\x01" + b"\x00" * 100),
    ],
)
def test_it_rejects_disallowed_types_even_with_allowed_names(name: str, data: bytes) -> None:
    error = assert_rejected_in_chinese(name, data)

    assert "不支持的文件类型" in str(error)


def test_it_rejects_empty_files() -> None:
    assert_rejected_in_chinese("empty.jpg", b"")


def test_rejection_is_a_value_error_with_lazy_message() -> None:
    with pytest.raises(ValueError, match="不支持的文件类型"):
        sanitize_upload(name="a.exe", data=b"MZ" + b"\x00" * 64)


# ---------------------------------------------------------------------------
# Display name
# ---------------------------------------------------------------------------


def sanitize_png_named(name: str) -> CleanFile:
    return sanitize_upload(name=name, data=make_png_with_text())


def test_it_strips_path_parts_and_control_characters_from_the_name() -> None:
    clean = sanitize_png_named("C:\\Users\\someone\\Desktop/../evi\x00de\u202enoc\t.PNG")

    assert clean.filename == "evidenoc.png"


def test_it_replaces_a_misleading_extension_with_the_canonical_one() -> None:
    assert sanitize_png_named("invoice.pdf.exe").filename == "invoice.pdf.png"
    assert sanitize_png_named("现场照片").filename == "现场照片.png"
    assert sanitize_png_named("2024.05.01").filename == "2024.05.01.png"


def test_it_uses_a_default_name_when_the_name_is_empty() -> None:
    assert sanitize_png_named("").filename == "附件.png"
    assert sanitize_png_named("uploads/.png").filename == "附件.png"
    assert sanitize_png_named("\x01\x02").filename == "附件.png"


def test_it_limits_the_display_name_to_120_characters() -> None:
    filename = sanitize_png_named("证" * 300 + ".png").filename

    assert len(filename) == 120
    assert filename.endswith(".png")
