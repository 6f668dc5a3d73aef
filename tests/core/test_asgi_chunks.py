"""The ASGI entry point sends each piece a streamed response yields (64 KiB..1 MiB from our writers) as one
message, without cutting it into 64 KiB copies (Django's default: ~1,400 messages for an 85 MB download)."""

from __future__ import annotations


def test_a_streamed_piece_of_a_mebibyte_goes_out_as_one_message_without_a_copy() -> None:
    from daiquiri.asgi import django_asgi_app  # its import runs the start-up checks: only in the test that needs it

    piece = bytes(1 << 20)
    messages = list(django_asgi_app.chunk_bytes(piece))
    assert len(messages) == 1 and messages[0][0] is piece
    assert len(list(django_asgi_app.chunk_bytes(bytes((1 << 20) + 1)))) == 2  # a bigger piece is still cut
