"""Social-media text normalisation and script-aware language detection.

Both work on whole batches: the texts are joined with ``"\\n"`` into one string and every regular
expression runs once over it (in C), which removes the per-text Python overhead that dominates when
tweets are short. No expression matches across a newline, so the batch splits back cleanly.

Normalisation keeps sentiment signals as tokens instead of deleting them:

* URLs -> ``xurl``, @handles -> ``xuser``, ``#EpicFail`` -> ``# epic fail``;
* emoticons and emoji -> ``xpos`` / ``xneg`` signal tokens (the emoji itself is kept);
* letters repeated three times or more are cut to two and flagged (``soooo`` -> ``soo xelong``);
* negation marks the next word (``not bad`` -> ``not bad not_bad``; Hebrew ``לא``, Arabic ``مش``);
* Hebrew niqqud removed and final letters folded (``ם`` -> ``מ``);
* Arabic diacritics and tatweel removed, alef/yeh/teh-marbuta/hamza variants folded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Final

import numpy as np

LANGS: Final = ("en", "he", "ar", "other")

# Every pattern that runs over the whole batch starts each alternative with a literal character,
# so the regex engine jumps between candidate positions (a pattern opening with a class such as
# ``[:;=]`` or a look-behind is tried at every character: 3-6x slower). Splitting ``[:;=]x`` into
# ``:x|;x|=x`` matches the same text.
_URL = re.compile(r"(?:h[tT][tT][pP][sS]?://|H[tT][tT][pP][sS]?://|www\.)\S+")
_HANDLE = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|_+")
_EMO_POS = re.compile(
    r":[-'^o]?[)\]dDpP*}>]+|;[-'^o]?[)\]dDpP*}>]+|=[-'^o]?[)\]dDpP*}>]+|\^_*\^|<3+|\(:"
)
_EMO_NEG = re.compile(r":[-'^o]?[(\[/\\|{<@]+|;[-'^o]?[(\[/\\|{<@]+|=[-'^o]?[(\[/\\|{<@]+|</3|-_+-")
_ELONG = re.compile(r"(\w)\1{2,}(\w*)")
_PUNCT_CHARS = '!?.,;:()،؟؛"[]{}*~…“”`|/\\=+<>^-'  # apostrophes stay inside words
# Spacing punctuation out is ``" ".join(_PUNCT.split(s))``: the split and the join both run in C
# (a sub with a ``" \1 "`` template expands it in Python for every match in 3.11, and one
# str.replace per character scans the batch 36 times). Whitespace is collapsed afterwards, so the
# spaces added between adjacent pieces are the same as padding each mark.
_PUNCT = re.compile(f"([{re.escape(_PUNCT_CHARS)}])")
_PUNCT_RUN = re.compile(r"([!?])(?:[^\S\n]*[!?])+")
_NEGATORS: Final = (
    "not no never cannot cant can't dont don't doesnt doesn't didnt didn't isnt isn't "
    "wasnt wasn't arent aren't wont won't wouldnt wouldn't shouldnt shouldn't aint ain't "
    "havent haven't hasnt hasn't nothing nobody nor neither without "
    "לא אין אינו אינה בלי ללא מעולם "
    "مش مو ما لا ليس ليست مفيش لم لن بدون"
).split()


def _negation_pattern(words: Sequence[str]) -> re.Pattern[str]:
    r"""``([ '])(<negator>) (\w+)``, the negators grouped by first letter behind a look-ahead on
    those letters, so most words are rejected by one class test instead of 52 literal ones. A
    negator must be followed by a space, so at most one alternative can match at a position and
    the grouping does not change what matches."""
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0], []).append(re.escape(word[1:]))
    alternation = "|".join(f"{re.escape(c)}(?:{'|'.join(rest)})" for c, rest in by_first.items())
    first = "".join(re.escape(c) for c in by_first)
    return re.compile(rf"([ '])(?=[{first}])({alternation}) (\w+)")


_NEGATION = _negation_pattern(_NEGATORS)

# Hebrew: niqqud and cantillation out, maqaf to space, final letters folded.
# Arabic: harakat, superscript alef and tatweel out; letter variants folded.
_TRANSLATE: Final[dict[int, str | None]] = {
    **{c: None for c in range(0x0591, 0x05BE)},
    0x05BE: " ",
    **{c: None for c in range(0x05BF, 0x05C8)},
    ord("ך"): "כ",
    ord("ם"): "מ",
    ord("ן"): "נ",
    ord("ף"): "פ",
    ord("ץ"): "צ",
    **{c: None for c in range(0x064B, 0x0660)},
    0x0670: None,
    0x0640: None,
    ord("أ"): "ا",
    ord("إ"): "ا",
    ord("آ"): "ا",
    ord("ٱ"): "ا",
    ord("ى"): "ي",
    ord("ة"): "ه",
    ord("ؤ"): "و",
    ord("ئ"): "ي",
    ord("ک"): "ك",
    ord("ی"): "ي",
    ord("’"): "'",
    ord("‘"): "'",
    ord("\u200f"): None,
    ord("\u200e"): None,
    ord("\u200d"): None,
    ord("\ufe0f"): None,
}

_POS_EMOJI = (
    "😀😁😂😃😄😅😆😇😉😊😋😌😍😎😏😗😘😙😚😛😜😝🙂🙃🤗🤩🥰🥳👍👏🙌💪✌👌🎉🎊💯🔥✨⭐🌟"
    "❤💕💖💗💘💙💚💛💜🧡🖤🤍💓💞😻😸😹🙏☺♥"
)
_NEG_EMOJI = (
    "😒😓😔😕😖😞😟😠😡😢😣😤😥😦😧😨😩😪😫😬😭😮😰😱😲😳😵😶🤬🤮🤢🙁☹👎💔🤦🙄😑😐🤨"
    "💩🖕😾😿🤯🥵🥶🤡⚠❌🚫"
)
# One pass over the batch with a class of code-point *ranges* (a regex class listing 100 astral
# characters is tested item by item at every position: ~10x slower). Matches are rare, so the
# replacement callable costs little.
_EMOJI_TOKEN: Final[dict[str, str]] = {
    **{ch: f" {ch} xpos " for ch in _POS_EMOJI},
    **{ch: f" {ch} xneg " for ch in _NEG_EMOJI},
}
_EMOJI_RANGES = "\u2600-\u27bf\u2b50\U0001f300-\U0001faff"
_EMOJI_RE = re.compile(f"[{_EMOJI_RANGES}]")
if not all(_EMOJI_RE.fullmatch(ch) for ch in _EMOJI_TOKEN):  # pragma: no cover - import check
    msg = "an emoji signal character lies outside _EMOJI_RANGES"
    raise RuntimeError(msg)
# Mapped characters outside the Hebrew/Arabic blocks are few; they are replaced on the whole batch
# and ``str.translate`` (a dict lookup per character) runs only on Hebrew/Arabic lines.
_LATIN_FOLDS: Final = {"\u2019": "'", "\u2018": "'", "\u200f": "", "\u200e": "", "\u200d": ""}
_LATIN_FOLDS_ALL: Final = {**_LATIN_FOLDS, "\ufe0f": ""}
_HE_AR = re.compile("[\u0591-\u05f4\u0610-\u06ff]")
if not all(  # pragma: no cover - import check
    chr(c) in _LATIN_FOLDS_ALL or _HE_AR.fullmatch(chr(c)) for c in _TRANSLATE
):
    msg = "a translated character is neither folded nor inside the Hebrew/Arabic ranges"
    raise RuntimeError(msg)


def _emoji_token(match: re.Match[str]) -> str:
    ch = match.group()
    return _EMOJI_TOKEN.get(ch, ch)


@functools.lru_cache(maxsize=1 << 16)
def _hashtag_words(tag: str) -> str:
    return f" # {_CAMEL.sub(' ', tag)} "


def _split_hashtag(match: re.Match[str]) -> str:
    # the same tags recur across a batch and the stream; the cache saves the inner sub
    return _hashtag_words(match.group(1))


def _negate(match: re.Match[str]) -> str:
    # a callable, not the template r"\1\2 \3 not_\3" (expanded in Python per match in 3.11)
    word = match.group(3)
    return f"{match.group(1)}{match.group(2)} {word} not_{word}"


# False for the ASCII characters that are not ``\w`` (any other code point might be)
_MAYBE_WORD = np.ones(128, dtype=bool)
_MAYBE_WORD[[c for c in range(128) if not re.fullmatch(r"\w", chr(c))]] = False


def _mark_elongations(s: str) -> str:
    """``_ELONG`` on the lines that hold a word character three times in a row (few), found with
    numpy, instead of a regex attempt at every word character of the batch. Matches never span
    lines, so the result is the same."""
    cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
    triple = np.flatnonzero((cps[:-2] == cps[1:-1]) & (cps[1:-1] == cps[2:]))
    head = cps[triple]
    triple = triple[(head >= 128) | _MAYBE_WORD[np.minimum(head, 127)]]
    if len(triple) == 0:
        return s
    lines = s.split("\n")
    for i in np.unique(np.searchsorted(np.flatnonzero(cps == 10), triple)).tolist():
        lines[i] = _ELONG.sub(r"\1\1\2 xelong", lines[i])
    return "\n".join(lines)


def _join(texts: Sequence[str]) -> str:
    """The texts as one string, one per line (newlines and carriage returns inside a text become
    spaces). Texts rarely hold a newline: the per-text replace runs only when one does."""
    s = "\n".join(texts)
    if s.count("\n") != len(texts) - 1:
        s = "\n".join(t.replace("\n", " ") for t in texts)
    return s.replace("\r", " ") if "\r" in s else s


def normalize_batch(texts: Sequence[str]) -> list[str]:
    """Normalise many texts at once; each result is lower-cased, single-spaced, space padded."""
    if not texts:
        return []
    s = _join(texts)
    s = _URL.sub(" xurl ", s)
    s = _HANDLE.sub(" xuser ", s)
    s = _HASHTAG.sub(_split_hashtag, s)
    s = _EMO_NEG.sub(" xneg ", s)
    s = _EMO_POS.sub(" xpos ", s)
    s = _EMOJI_RE.sub(_emoji_token, s)
    for ch, repl in _LATIN_FOLDS_ALL.items():
        if ch in s:
            s = s.replace(ch, repl)
    if _HE_AR.search(s):
        lines = s.split("\n")
        s = "\n".join(t.translate(_TRANSLATE) if _HE_AR.search(t) else t for t in lines)
    s = s.lower()
    s = s.replace(" xd ", " xd xpos ").replace(" d: ", " xneg ")
    s = s.replace("&amp;", " and ").replace("&lt;", " < ").replace("&gt;", " > ")
    s = _mark_elongations(s)
    s = _PUNCT_RUN.sub(r" \1 xrepeat ", s)
    s = " ".join(_PUNCT.split(s))
    # str.split per line collapses whitespace far faster than a regex over the batch; the padding
    # lets the negation pattern start with a character class instead of a slow leading ``\b``.
    s = "\n".join([f" {' '.join(t.split())} " for t in s.split("\n")])
    s = _NEGATION.sub(_negate, s)
    return s.split("\n")


def normalize(text: str) -> str:
    """Normalise one text (see :func:`normalize_batch`)."""
    return normalize_batch([text])[0]


_HE_ONE = "והבלמשכ"
_HE_TWO = [a + b for a in _HE_ONE for b in _HE_ONE]
# "" first: a word's own form comes before its prefixed ones
_HE_PREFIXES: Final = ("", *_HE_ONE, *_HE_TWO, *(a + b for a in _HE_ONE for b in _HE_TWO))
_AR_PREFIXES: Final = ("", "و", "ف", "ب", "ل", "ك", "ال", "وال", "فال", "بال", "كال", "لل", "ولل")
#: Prefixes an n-gram hasher may strip off a word to add its stem as one more word feature
#: (``NgramHasher(stem_prefixes=lang)``): single clitics, and for Arabic the article forms.
STEM_PREFIXES: Final[dict[str, tuple[str, ...]]] = {
    "he": tuple(_HE_ONE),
    "ar": tuple(p for p in _AR_PREFIXES if 1 <= len(p) <= 2),
}


def prefixed_forms(core: str) -> list[str]:
    """A normalised word or phrase plus its forms with attached Hebrew/Arabic prefixes.

    Hebrew: up to three of ו ה ב ל מ ש כ; Arabic: و ف ب ل ك and the article ال in their common
    combinations. Latin-script terms have no prefixed forms.
    """
    first = core[0]
    if "\u05d0" <= first <= "\u05ea":
        return [p + core for p in _HE_PREFIXES]
    if "\u0620" <= first <= "\u06d3":
        return [p + core for p in _AR_PREFIXES]
    return [core]


# --- language detection ---------------------------------------------------------------------

# ``(?<![\w@])[@#]\w+`` written with literal-first alternatives (see the note on ``_URL``)
_STRIP_FOR_LANG = re.compile(r"https?://[^\s]+|www\.[^\s]+|@(?<![\w@]@)\w+|#(?<![\w@]#)\w+|&\w+;")
_EN_WORDS: Final = frozenset(
    "the a an and or but is are was were be been i you he she it we they me my your our their "
    "this that these those to of in on at for with from by not no never so very just what why "
    "how when who can can't cant don't dont do does did have has had will would should could "
    "im i'm it's its thanks thank please love hate good bad great awful worst best service "
    "again still now today get got one all about up out if there here than then too".split()
)
_OTHER_LATIN_WORDS: Final = frozenset(
    # es / pt / fr / de / it / nl / id / tr high-frequency words absent from English
    "el la los las que de del y en un una por para con es muy pero como esta está gracias "
    "não nao com uma mais muito obrigado você voce é e o os "
    "le les des et est une pour pas avec sur dans je tu il nous vous très merci c'est "
    "der die das und ist nicht ein eine mit für ich sie wir auf zu den dem danke sehr "
    "il di che non per sono una della grazie molto "
    "het een en van ik niet dat je zijn voor met "
    "yang dan di ini itu tidak aku saya ada untuk "
    "bir ve bu çok için ne ben".split()
)
_PERSIAN_URDU = frozenset("پچژگکیٹڈڑںھےۓ")


def _script_table() -> np.ndarray:
    """Script class of every BMP code point: 0 none, 1 Hebrew, 2 Arabic, 3 Latin, 4 other letter
    (Cyrillic, Greek, CJK, Devanagari, Thai, Hangul...: alphabetic above Latin Extended, neither
    Hebrew nor Arabic, emoji/symbol planes excluded). Code points above the BMP are class 0."""
    table = np.zeros(0x10000, dtype=np.int64)
    for lo, hi in ((0x0370, 0x058F), (0x0900, 0x10FF), (0x3040, 0x9FFF), (0xAC00, 0xD7A3)):
        table[lo : hi + 1] = 4
    table[ord("A") : ord("Z") + 1] = 3
    table[ord("a") : ord("z") + 1] = 3
    table[0xC0:0x250] = 3
    table[0xD7] = 0  # multiplication sign
    table[0x05D0:0x05EB] = 1
    for lo, hi in ((0x0620, 0x064A), (0x066E, 0x06D3), (0x0750, 0x077F), (0xFB50, 0xFDFF)):
        table[lo : hi + 1] = 2
    table[0xFE70:0xFEFD] = 2
    return table


_SCRIPT = _script_table()


def _script_counts(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per text: Hebrew, Arabic, Latin and other letter counts (URLs, handles, tags removed)."""
    s = _STRIP_FOR_LANG.sub(" ", _join(texts))
    cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
    n = len(texts)
    doc = np.cumsum(cps == 10)
    script = np.where(cps < 0x10000, _SCRIPT[cps & 0xFFFF], 0)
    counts = np.bincount(doc * 5 + script, minlength=5 * n)[: 5 * n].reshape(n, 5)
    return counts[:, 1], counts[:, 2], counts[:, 3], counts[:, 4]


def detect_languages(texts: Sequence[str]) -> list[str]:
    """Detect ``en``/``he``/``ar``/``other`` for many texts at once.

    Script first: Hebrew or Arabic letters outweigh Latin ones 2:1 (brand names, handles and
    loanwords in Latin script are common inside Hebrew and Arabic posts). Arabic script with
    Persian/Urdu-only letters and no Arabic-only words is ``other``. Latin script is English unless
    high-frequency words of other Latin-script languages outnumber English ones; texts without
    letters (empty, emoji only, numbers) are ``other``.
    """
    if not texts:
        return []
    he, ar, la, ot = _script_counts(texts)
    h, a = 2 * he, 2 * ar
    best = np.maximum(np.maximum(h, a), np.maximum(la, ot))
    # first maximum wins in the order Hebrew, Arabic, Latin, other
    script = np.select([best == 0, h == best, a == best, la == best], [0, 1, 2, 3], 0)
    out = np.array(["other", "he", "ar", "en"], dtype=object)[script]
    for i in np.flatnonzero(script == 2).tolist():
        persian = sum(1 for ch in texts[i] if ch in _PERSIAN_URDU)
        if persian * 20 > a[i]:
            out[i] = "other"
    for i in np.flatnonzero(script == 3).tolist():
        tokens = texts[i].lower().split()
        if _OTHER_LATIN_WORDS.isdisjoint(tokens):  # most texts: no set needs building
            continue
        words = set(tokens)
        foreign = len(words & _OTHER_LATIN_WORDS)
        if foreign >= 2 and foreign > len(words & _EN_WORDS):
            out[i] = "other"
    langs: list[str] = out.tolist()
    return langs


def detect_language(text: str) -> str:
    """Detect the language of one text: ``"en"``, ``"he"``, ``"ar"`` or ``"other"``."""
    return detect_languages([text])[0]
