"""Build ``src/svc_auth/data/common-passwords.txt``, the bundled common-password list.

Sources:

* the 30,000 most frequent passwords that zxcvbn ships (``FREQUENCY_LISTS["passwords"]``,
  MIT licence; Dropbox's list drawn from public password leaks) — pass the path of the
  ``zxcvbn`` package's ``frequency_lists.py`` (``pip download zxcvbn==4.5.0``);
* generated walks and patterns that matter for 8..15+ character policies: keyboard rows
  and columns and their concatenations ("qwertyuiopasdf", "1qaz2wsx3edc"), reversed,
  "password"/"qwerty"/… followed by digit runs and years.

Entries shorter than 8 characters are dropped: the policy refuses them by length alone.
Run: ``python scripts/build_common_passwords.py /path/to/zxcvbn/frequency_lists.py``
"""

from __future__ import annotations

import importlib.util
import sys
import unicodedata
from pathlib import Path

MIN_LEN = 8
OUT = Path(__file__).resolve().parents[1] / "src" / "svc_auth" / "data" / "common-passwords.txt"

ROWS = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"]
COLUMNS = "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p"
BASES = [
    "password",
    "passw0rd",
    "p@ssword",
    "p@ssw0rd",
    "qwerty",
    "letmein",
    "welcome",
    "admin",
    "iloveyou",
    "changeme",
    "secret",
    "abc",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "master",
    "login",
    "passphrase",
    "default",
]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _zxcvbn(path: str) -> list[str]:
    spec = importlib.util.spec_from_file_location("frequency_lists", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.FREQUENCY_LISTS["passwords"]).split(",")


def _walks() -> set[str]:
    out: set[str] = set()
    seqs = [
        "".join(ROWS),
        "".join(ROWS[1:]),
        "".join(ROWS[1:3]),
        COLUMNS,
        "".join(reversed(ROWS)),
        "".join(r[::-1] for r in ROWS),
    ]
    seqs += [seq[::-1] for seq in seqs]
    for seq in seqs:
        for start in range(len(seq)):
            for end in range(start + MIN_LEN, min(len(seq), start + 32) + 1):
                out.add(seq[start:end])
    return out


def _with_digits() -> set[str]:
    out: set[str] = set()
    runs = ["1234567890"[:k] for k in range(1, 11)] + ["0987654321"[:k] for k in range(1, 11)]
    runs += ["123123", "123321", "12341234", "111", "1111", "000", "0000", "!", "!!", "1!", "123!"]
    runs += [str(y) for y in range(1950, 2041)]
    for base in BASES:
        for variant in (base, base + base):
            out.add(variant)
            for run in runs:
                out.add(variant + run)
                out.add(run + variant)
    return {w for w in out if len(w) >= MIN_LEN}


def main(argv: list[str]) -> None:
    words = {_fold(w) for w in _zxcvbn(argv[1])} if len(argv) > 1 else set()
    words |= _walks() | _with_digits()
    words |= {"123456789012345", "1234567890123456", "passwordpassword", "qwertyqwerty"}
    words |= {  # famous passphrases (xkcd 936, pangrams, lyrics) that length alone lets through
        "correcthorsebatterystaple", "correct horse battery staple",
        "thequickbrownfoxjumpsoverthelazydog", "the quick brown fox jumps over the lazy dog",
        "iloveyouforever", "iloveyousomuch", "letmeinplease", "trustnoone",
        "maytheforcebewithyou", "may the force be with you", "onetwothreefourfive",
    }  # fmt: skip
    words = {w for w in words if len(w) >= MIN_LEN and w.strip() == w}
    header = [
        "# svc-auth bundled common-password list (one entry per line, case-folded NFKC).",
        "# Built by packages/svc-auth/scripts/build_common_passwords.py from zxcvbn's",
        "# frequency list (MIT licence, Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.)",
        "# and generated keyboard walks and digit patterns. Entries < 8 characters omitted.",
    ]
    OUT.write_text("\n".join(header + sorted(words)) + "\n", encoding="utf-8")
    print(f"wrote {len(words)} entries to {OUT}")


if __name__ == "__main__":
    main(sys.argv)
