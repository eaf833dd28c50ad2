"""Message templates: pick the line that names the failure, mask its parameters.

Masked: timestamps, URLs, uuids, PCI ids, IPs and ports, hex, host names (after "host", in
user@host, dotted names under a common suffix, localhost), paths, ids, long hex, sizes with units, durations,
numbers, quoted values. ``make_template("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; ...)")`` gives
``"CUDA out of memory. Tried to allocate <SIZE> (GPU <NUM>; ...)"``: two failures that differ only
in their parameters get the same template, which is what the pattern grouping builds on.
"""
from __future__ import annotations

import re
from itertools import repeat
from typing import Any, Callable

from error_handling.ascii_twins import is_plain, twin as ascii_twin
from error_handling.prefilter import filters_hold

MASK_RE = re.compile(r"^<[A-Z*]+>$")
_MAX_LINE_CHARS = 2000
_MAX_TOKENS = 80

# Which line of a multi-line message names the failure, tried in this order; a pattern with a
# group names the part of the line that does. Beside each, substrings one of which the message
# must hold for the pattern to match one of its lines (None: always tried; a case-insensitive
# pattern's are looked for in the lower-cased message): a cheap skip of the line-by-line search,
# exact where the prefilters hold (``prefilter.filters_hold``).
# Each is searched once over the message's lines joined by newlines (MULTILINE: ^ and $ at each
# line), none able to match across a newline, so the first match is in the first line that has one.
# A case-insensitive pattern may carry a case-sensitive twin for ASCII text, searched in the
# lower-cased text (the same positions): written to start with a character, so the search skips to
# candidates instead of trying a word boundary at every position (under IGNORECASE it cannot).
_PRIMARY_LINES: list[tuple[re.Pattern[str], tuple[str, ...] | None, bool, re.Pattern[str] | None]] = [
    (regex, needs, bool(regex.flags & re.IGNORECASE), re.compile(twin, re.M) if twin else None)
    for regex, needs, twin in ((re.compile(p, re.M), needs, twin) for p, needs, twin in (
        (r"E(?<![^\n]E)[^\S\n]+\S", None, None),        # pytest's explanation lines (^E, the ^ after the E)
        (r'^details = "(.*?)"?$', ('details = "',), None),  # gRPC's status details (after "status = StatusCode.X")
        (r"NVRM: Xid|Out of memory: Kill|invoked oom-killer|oom-kill:",
         ("NVRM: Xid", "Out of memory: Kill", "invoked oom-killer", "oom-kill:"), None),
        (r"^(?:FAILED|ERROR)\b", ("FAILED", "ERROR"), None),  # pytest summary, pip errors
        (r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Full)\b:?",  # traceback end
         ("Error", "Exception", "Exit", "Interrupt", "Warning", "Full"), None),
        (r"(?i)\b(?:error|failed|failure|fatal|refused|denied|timed out|killed|not found|unable)\b",
         ("error", "fail", "fatal", "refused", "denied", "timed out", "killed", "not found", "unable"),
         r"(?:e(?<!\we)rror|f(?<!\wf)(?:ailed|ailure|atal)|r(?<!\wr)efused|d(?<!\wd)enied|t(?<!\wt)imed out"
         r"|k(?<!\wk)illed|n(?<!\wn)ot found|u(?<!\wu)nable)\b"),
    ))]
# Lines that name no failure of their own (see primary_line), and how many primary_line passes over
_WRAPPER_LINE_RE = re.compile(
    r"(?:[$+] .*|Error: Process completed with exit code \d+\.?"
    r"|ERROR: Job failed: (?:exit (?:code|status) \d+|command terminated with exit code \d+)"
    r"|Finished: FAILURE|Status:\s+Failed|Error report|(?:ERROR|Error|FAILED|FAILURE|error|fatal)\s*:?"
    r"|Events:|Backtrace for this error:|FAILED \S+"
    r"|FAILED: (?:\[code=\d+\] )?[\w./+-]+(?: [\w./+-]+)*|TEST '[^'\n]*' FAILED"
    r"|FAILURE: Build failed with an exception\.|CMake Error at \S+ \(\w+\):)$")
_WRAPPER_SKIPS = 6
_TRACEBACK_END = 4  # index of the traceback-end pattern: the last such line is the one raised
# what str.strip takes off both ends of a line: whitespace (as the regex \s knows it) and rules
_DECORATION = "".join(chr(c) for c in range(0x3000 + 1) if chr(c).isspace()) + "=_!*~#-"
_LOG_PREFIX_RE = re.compile(
    r"^(?:\[\s*\d+\.\d+\]\s*"                                      # dmesg [ 1234.567890]
    r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\]\s*"  # dmesg -T [Tue May 14 10:22:31 2024]
    r"|[A-Z][a-z]{2}\s+\d{1,2}\s+\d\d:\d\d:\d\d\s+\S+\s+kernel:\s*"  # syslog ... host kernel:
    r"|\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\s+(?:[A-Z]+\s+)?)+")

# (urllib's "HTTP Error 404: ..." needs no lookbehind of its own: a digit after a space is at a \b)
# (and httpx's quoted '503 Service Unavailable': a status with its reason, then the quote)
_FIXED_CODE_RE = re.compile(r"\b(?P<code>[1-5]\d\d)(?=: |, message=| (?:Client|Server) Error"
                            r"| [A-Z][a-z]+(?: [A-Za-z-]+)*')"
                            r"|Xid \([^)]*\): (?P<xid>\d+)")
# what a status code's match needs (a regex that starts with a character class: the search skips to
# the next digit 1-5), or "Xid (": most lines with digits hold neither
_FIXED_CODE_GATE = re.compile(r"[1-5]\d\d(?:: |, message=| [A-Z])")
# digits of fixed codes (HTTP status, Xid) are moved to private-use characters so masks skip them
_PRIVATE_DIGITS = "".join(chr(0xE000 + i) for i in range(10))
_PROTECT = str.maketrans("0123456789", _PRIVATE_DIGITS)
_UNPROTECT = str.maketrans(_PRIVATE_DIGITS, "0123456789")

# argv lists as Python prints them (CalledProcessError, TimeoutExpired): their length is a parameter too
# ('?\[ written as two branches, each starting with its character: the search skips to the next)
_ARGV_ITEMS = r"""(?:(?:'[^'\n]*'|"[^"\n]*")(?:, )?)+\]'?"""
_ARGV_RE = re.compile(rf"""'\[{_ARGV_ITEMS}|\[{_ARGV_ITEMS}""")
# (each branch starts with its quote, the lookbehind after it: the search skips from quote to quote)
_QUOTED_RE = re.compile(r"""'(?<![\w\\]')([^'\n]{0,200})'(?!\w)|"(?<![\w\\]")([^"\n]{0,200})"(?!\w)""")
_PHRASE_RE = re.compile(r"[A-Za-z][A-Za-z ]*[A-Za-z]")
# an HTTP status quoted with its reason, as httpx prints it ('429 Too Many Requests'): the fixed
# code (its digits protected by then) and words that tell errors apart
_STATUS_PHRASE_RE = re.compile(f"[{_PRIVATE_DIGITS}]{{3}} [A-Za-z][A-Za-z -]*")

_FILE_SUFFIXES = ("py", "pyc", "json", "toml", "ya?ml", "txt", "cfg", "ini", "log", "sh", "csv", "dat", "cu", "cpp",
                  "c", "h")
# what the id mask reads before the separator; its needles, the prefixes no other one starts
# ("req" covers "request")
_ID_PREFIXES = ("task", "worker", "job", "run", "node", "req", "request", "session", "container", "pod", "trace", "span",
                "host")
_ID_WORDS = tuple(p for p in _ID_PREFIXES if not any(q != p and p.startswith(q) for q in _ID_PREFIXES))
_TLDS = ("com", "org", "net", "io", "ai", "dev", "local", "internal", "lan", "cloud", "edu", "gov", "example", "invalid")
# paths: a Windows one (C:\...), or a Unix one not inside a word, a path or a mask; the tail both
# forms of the Unix one share (see _UNIX_PATH_RE)
_WINDOWS_PATH = r"[A-Za-z]:\\[^\s'\"]+"
_PATH_TAIL = r"[\w.@%+~-]+(?:/[\w.@%+~-]*)*"
_UNIX_PATH = r"(?<![\w/.<>-])(?:\.{1,2})?/" + _PATH_TAIL

_MASKS: list[tuple[re.Pattern[str], str]] = [(re.compile(p, f), r) for p, f, r in (
    (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?", 0, "<TS>"),
    (r"\d(?<!\w\d)\d:\d\d:\d\d(?:\.\d+)?\b", 0, "<TS>"),  # \b\d\d:..., the \b as a lookbehind
    (r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]+", re.I, "<URL>"),
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I, "<UUID>"),
    (r"\bPCI:[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}(?:\.[0-7])?|\b[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b", re.I, "<PCI>"),
    (r"\b[\w.-]+@(?=[\w-])[\w.-]*[\w-]", 0, "<HOST>"),  # user@host, before the IP mask takes its address
    (r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])|\[[0-9a-f:]*:[0-9a-f:]*\](?::\d{1,5})?|(?<![\w:])::1\b", re.I, "<IP>"),
    (r"\b0x[0-9a-f][0-9a-f_]*\b", re.I, "<HEX>"),
    (r"(?<=\bhost )[\w.-]+|(?<=\bhost=)[\w.-]+|(?<=\bhostname )[\w.-]+", re.I, "<HOST>"),
    (r"\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:" + "|".join(_TLDS) + r")\b|\blocalhost\b", 0, "<HOST>"),
    (_WINDOWS_PATH + "|" + _UNIX_PATH, 0, "<PATH>"),
    (r"\b[\w.-]+(?:/[\w.-]+)*\.(?:" + "|".join(_FILE_SUFFIXES) + r")\b(?:::[\w\[\].-]+)*", 0, "<PATH>"),
    (r"\b((?:" + "|".join(_ID_PREFIXES) + r")[-_:])(?=[\w-]*\d)[\w-]+", re.I, r"\1<ID>"),
    (r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I, "<HEX>"),
    # (\d\d* for \d+ here and below: a regex that starts with a character class lets the search
    # skip to the next digit instead of trying a match at every position)
    (r"\d\d*(?:\.\d+)?\s?(?:[KMGTPE]i?B|[kK]B|bytes)\b", 0, "<SIZE>"),
    # (and as Go and Kubernetes write them: 2m13s, 1h5m, 3h)
    (r"\d\d*(?:h(?:\d+m)?(?:\d+(?:\.\d+)?s)?|m\d+(?:\.\d+)?s"
     r"|(?:\.\d+)?\s?(?:ms|us|µs|ns|s|sec|secs|seconds?|minutes?|mins?|hours?))\b", 0, "<DUR>"),
    # -?\d+(?:\.\d+)*, written to start with a character class (the search skips to the next
    # digit or minus): a minus must be followed by digits, a digit by any more of them
    (r"[-\d](?:(?<=-)\d+|(?<!-)\d*)(?:\.\d+)*", 0, "<NUM>"),
    (r"<(NUM|HEX|SIZE|IP)>(?:[\s,;:x*/-]+<\1>)+", 0, r"<\1>"),  # variable-length lists
)]
_DIGIT_RE = re.compile(r"\d")

# What each mask cannot match without (same order as _MASKS): whether it needs a digit, and
# substrings one of which must be present. Skipping a regex that cannot match saves most of a
# cold template's cost; the masks never add digits, so "no digit" holds for the whole line.
# an id prefix, its separator, then a digit later in the word: searched from the separator
# (rarer than the prefixes' first letters), the prefix read behind it, one lookbehind per length;
# compiled for ASCII: it reads only ASCII lines, where \w and \d read alike in both modes
_ID_GATE_RE = re.compile("[-_:](?:" + "|".join(
    f"(?<=(?:{'|'.join(p for p in _ID_PREFIXES if len(p) == n)})[-_:])"
    for n in sorted({len(p) for p in _ID_PREFIXES})) + r")[\w-]*\d", re.ASCII)


def _may_hold_id(line: str) -> bool:
    # case-sensitive on the lower-cased line, which for ASCII is what IGNORECASE reads
    return not line.isascii() or _ID_GATE_RE.search(line.lower()) is not None


# eight hex characters in a row, as every long hex the mask takes has (it needs a digit among
# them too; a gate that looked for one from each digit was slower than this plain run, with the
# same lines passing on the corpus)
_HEX_RUN = "[0-9a-fA-F]{8}"

_MASK_NEEDS: list[tuple[bool, tuple[str, ...], Any]] = [  # needles in lower case are looked for case-folded
    (True, (":",), r"-\d\d-\d"),                     # timestamp with date
    (True, (":",), r":\d\d:\d"),                     # time of day
    (False, ("://",), None),                         # URL
    (False, ("-",), r"-[0-9a-fA-F]{4}-"),            # uuid
    (False, (":",), ":(?:(?<=[Pp][Cc][Ii\u0130\u0131]:)|[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.)"),  # PCI (what IGNORECASE reads)
    (False, ("@",), None),                           # user@host
    (False, (".", ":"), r"\.\d{1,3}\.\d|\[[0-9a-fA-F:]*:|::1"),  # IP (dotted quad, [v6], ::1)
    (False, ("0x", "0X"), None),                     # 0x hex
    (False, ("host", "Host", "HOST"), None),         # host names: after "host"
    (False, (".", "localhost"), r"\.(?:" + "|".join(_TLDS) + ")|localhost"),  # dotted names under a common suffix, localhost
    (False, ("/", "\\"), None),                      # paths
    (False, (".",), r"\.(?:" + "|".join(_FILE_SUFFIXES) + r")\b"),  # file names
    (True, _ID_WORDS, _may_hold_id),                 # ids (need a digit and one of the words, any case)
    (True, (), _HEX_RUN),                            # long hex (a run of 8)
    (True, ("B", "bytes"), None),                    # sizes
    (True, (), r"\d\s?[munshµ]"),                   # durations: a digit, then a unit's first letter
    (True, (), None),                                # numbers
    (False, ("<",), r">[\s,;:x*/-]+<"),             # runs of one mask: a mask's end, separators, a mask
]
# The third column: a plain regex every match of the mask contains, searched before the mask (a
# mask that starts with a lookbehind, a class or an alternation is tried at every position of
# the line; these start with a literal where they can, so the scan jumps from one to the next),
# or a function of the line that is false only when the mask cannot match.
assert len(_MASK_NEEDS) == len(_MASKS)
assert all(twin is None or not regex.groups for regex, _needs, _folded, twin in _PRIMARY_LINES)

# The path mask without its Windows branch, for lines without ":\" (where that branch cannot
# match): each branch starts with its character, the lookbehind after it, so the search skips
# from one "/" or "." to the next instead of trying the lookbehind at every position.
_PATH_INDEX = next(i for i, (regex, _replacement) in enumerate(_MASKS) if regex.pattern.endswith(_UNIX_PATH))
_UNIX_PATH_RE = re.compile(rf"/(?<![\w/.<>-]/){_PATH_TAIL}|\.(?<![\w/.<>-]\.)\.?/{_PATH_TAIL}")


def _path_sub(windows: re.Pattern[str], unix: re.Pattern[str]) -> Callable[[str, str], str]:
    def sub_path(replacement: str, line: str) -> str:
        return (windows if ":\\" in line else unix).sub(replacement, line)
    return sub_path


_sub_path = _path_sub(_MASKS[_PATH_INDEX][0], _UNIX_PATH_RE)


def _itself(regex: re.Pattern[str]) -> re.Pattern[str]:
    return regex


def _mask_plan(form: Callable[[re.Pattern[str]], re.Pattern[str]]) -> list[tuple]:
    """(substitute, replacement, needs a digit, needles, needles case-folded, gate) per mask, its
    regexes in ``form`` (themselves, or their ASCII twins)."""
    return [(_path_sub(form(regex), form(_UNIX_PATH_RE)) if index == _PATH_INDEX else form(regex).sub,
             replacement, digit, needs, bool(regex.flags & re.IGNORECASE) and all(n.islower() for n in needs),
             gate if callable(gate) else form(re.compile(gate)).search if gate else None)
            for index, ((regex, replacement), (digit, needs, gate)) in enumerate(zip(_MASKS, _MASK_NEEDS))]


# by (the line is plain, it holds a digit): the plan its masks walk. A line without digits is
# tried only by the masks that need none (the masks never add digits); a plain line
# (``ascii_twins.is_plain``) by the masks' ASCII twins, which find the same there, faster.
_MASK_PLANS = {(plain, True): _mask_plan(ascii_twin if plain else _itself) for plain in (False, True)}
_MASK_PLANS.update({(plain, False): [step for step in _MASK_PLANS[plain, True] if not step[2]]
                    for plain in (False, True)})
# the regexes the steps before the masks search, by whether the line is plain
_BEFORE_MASKS = {plain: tuple((ascii_twin if plain else _itself)(regex) for regex in (
    _DIGIT_RE, _LOG_PREFIX_RE, _FIXED_CODE_GATE, _FIXED_CODE_RE, _ARGV_RE, _QUOTED_RE)) for plain in (False, True)}


def primary_line(message: str) -> str:
    """The line of ``message`` that names the failure (first non-decoration line if none does).
    A line that names no failure of its own (a shell's echo of the command, a CI runner's "job
    failed: exit code 1", a bare "FAILED <test>") is passed over while another line can be had:
    as a template it would join unrelated failures and split one failure by its wrapper."""
    if "\n" not in message:
        return message.strip(_DECORATION)
    line = _pick_line(message)
    for _ in range(_WRAPPER_SKIPS):
        if _WRAPPER_LINE_RE.match(line) is None:
            break
        kept = [other for other in message.splitlines() if other.strip(_DECORATION) != line]
        if not kept:
            break
        message = "\n".join(kept)
        line = _pick_line(message)
    return line


def _pick_line(message: str) -> str:
    """``primary_line`` before wrapper lines are passed over."""
    lines = list(filter(None, map(str.strip, message.splitlines(), repeat(_DECORATION))))
    if not lines:
        return ""
    text = "\n".join(lines)
    gated = filters_hold(message)
    lowered = None
    ascii_text = text.isascii()
    lowered_text = None
    for index, (regex, needs, folded, twin) in enumerate(_PRIMARY_LINES):
        if gated and needs is not None:
            if folded:
                if lowered is None:
                    lowered = message.lower()
                haystack = lowered
            else:
                haystack = message
            for needle in needs:
                if needle in haystack:
                    break
            else:
                continue
        if twin is not None and ascii_text:
            if lowered_text is None:
                lowered_text = text.lower()
            found = twin.search(lowered_text)
        else:
            found = regex.search(text)
        if found is None:
            continue
        if index == _TRACEBACK_END:  # the last line that names an exception: the one raised
            for found in regex.finditer(text, found.end()):
                pass
            return _line_at(text, found.start())
        return found.group(1) if regex.groups else _line_at(text, found.start())
    if lines[0].endswith("Traceback (most recent call last):"):
        return lines[-1]  # an exception no line above named (MissingSchema, InvalidStatus): Python prints it last
    return lines[0]


def _line_at(text: str, position: int) -> str:
    """The line of ``text`` (lines joined by newlines) that holds ``position``."""
    end = text.find("\n", position)
    return text[text.rfind("\n", 0, position) + 1:end if end >= 0 else len(text)]


def _protect_code(match: re.Match[str]) -> str:
    name = "code" if match.group("code") is not None else "xid"
    start, end = match.span(name)
    text, base = match.group(0), match.start()
    return text[:start - base] + text[start - base:end - base].translate(_PROTECT) + text[end - base:]


def _mask_quoted(match: re.Match[str]) -> str:
    inner = match.group(1) if match.group(1) is not None else match.group(2)
    # 'Too Many Requests' is fixed text that tells errors apart; 'torch', '/tmp/x' are parameters
    if " " in inner and (_PHRASE_RE.fullmatch(inner) or _STATUS_PHRASE_RE.fullmatch(inner)):
        return match.group(0)
    return "<STR>"


def make_template(message: str, error_type: str | None = None) -> str:
    """Mask parameters (numbers, sizes, durations, hex, addresses, PCI ids, paths, uuids, ids,
    IPs/ports, quoted values, timestamps) in the primary line; prefix the short type name."""
    line = primary_line(message or "")[:_MAX_LINE_CHARS]
    # (plain stays true as the line changes: the steps below add ASCII and, for protected
    # digits, private-use characters, which twins read as their patterns do)
    plain = is_plain(line)
    digit_re, log_prefix_re, fixed_code_gate, fixed_code_re, argv_re, quoted_re = _BEFORE_MASKS[plain]
    has_digit = digit_re.search(line) is not None
    protected = False
    first = line[:1]
    # every log prefix has a digit or "kernel:", and starts with "[", a capital or a digit
    if (has_digit or ":" in line) and (first == "[" or "A" <= first <= "Z" or first.isdecimal()):
        line = log_prefix_re.sub("", line)
    if has_digit and ("Xid (" in line or fixed_code_gate.search(line) is not None):
        before = line
        line = fixed_code_re.sub(_protect_code, line)
        protected = line is not before
    if "[" in line:
        line = argv_re.sub("<ARGS>", line)
    if "'" in line or '"' in line:
        line = quoted_re.sub(_mask_quoted, line)
    lowered = None  # line.lower(), while the line is unchanged
    for sub, replacement, _digit, needs, folded, gate in _MASK_PLANS[plain, has_digit]:
        if needs:
            if folded:
                if lowered is None:
                    lowered = line.lower()
                haystack = lowered
            else:
                haystack = line
            for needle in needs:
                if needle in haystack:
                    break
            else:
                continue
        if gate is not None and not gate(line):
            continue
        masked = sub(replacement, line)
        if masked is not line:  # (a substitution that matched nothing returns its input)
            line, lowered = masked, None
    if protected:
        line = line.translate(_UNPROTECT)
    tokens = line.split()  # on runs of whitespace, as regex \s knows it (str.isspace)
    text = " ".join(tokens[:_MAX_TOKENS] if len(tokens) > _MAX_TOKENS else tokens)
    if error_type:
        short = error_type.rsplit(".", 1)[-1]
        if not text.startswith(short):
            text = f"{short}: {text}" if text else short
    return text
