"""Every word the web UI shows has its Vietnamese translation."""

from __future__ import annotations

from docex.web.catalogue import conflicts, messages, missing


def test_every_message_of_the_web_ui_is_translated_into_vietnamese() -> None:
    assert len(messages()) > 30  # the extraction finds the templates' and the code's
    assert missing("vi") == {}


def test_no_message_is_translated_two_ways_by_two_screens_catalogues() -> None:
    assert conflicts("vi") == {}
