"""Writes one section of bench/RESULTS.md: the text from `marker` (a "## "
heading) up to the next "## " heading is replaced by `marker` + `table`, or
appended when the file has no such section."""
import os

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def write_section(marker, table, path=PATH):
    text = open(path).read()
    section = marker + "\n\n" + table + "\n"
    if marker in text:
        start = text.index(marker)
        end = text.find("\n## ", start + len(marker))
        text = text[:start] + section + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    open(path, "w").write(text)
