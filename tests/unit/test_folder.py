"""`unique_names` (bot/pins/folder.py): a message's file names as paths inside one folder.

"Pin as folder" puts every file of a message under one directory CID; two files called the
same must both be there, and no name may reach outside the folder or hide in it.
"""

from __future__ import annotations

import pytest

from bot.pins.folder import unique_names


def test_distinct_names_are_kept_as_they_are() -> None:
    assert unique_names(["report.pdf", "data.csv", "README"]) == [
        "report.pdf", "data.csv", "README"]


def test_same_names_are_numbered_keeping_the_extension() -> None:
    assert unique_names(["a.txt", "a.txt", "a.txt", "notes", "notes"]) == [
        "a.txt", "a-2.txt", "a-3.txt", "notes", "notes-2"]


def test_a_number_already_taken_by_another_file_is_skipped() -> None:
    names = unique_names(["a.txt", "a-2.txt", "a.txt"])
    assert names == ["a.txt", "a-2.txt", "a-3.txt"]


@pytest.mark.parametrize(("raw", "safe"), [
    ("../../etc/passwd", "_.._etc_passwd"),
    ("dir/inner.txt", "dir_inner.txt"),
    ("C:\\Users\\x.doc", "C:_Users_x.doc"),
    (".hidden", "hidden"),
    ("trailing. ", "trailing"),
    ("..", "file"),
    ("", "file"),
    ("   ", "file"),
])
def test_no_name_leaves_the_folder_or_hides_in_it(raw: str, safe: str) -> None:
    assert unique_names([raw]) == [safe]


def test_names_that_become_the_same_once_made_safe_are_still_distinct() -> None:
    names = unique_names(["a/b.txt", "a\\b.txt", "a_b.txt", "", ".", ".."])
    assert names == ["a_b.txt", "a_b-2.txt", "a_b-3.txt", "file", "file-2", "file-3"]
    assert len(set(names)) == len(names)
    assert not any("/" in n or "\\" in n or n.startswith(".") for n in names)
