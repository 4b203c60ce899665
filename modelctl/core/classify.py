"""Query classification: type, complexity, latency budget, with the reasons why.

`classify(query, attachments)` is pure (stdlib only, tables built at import); its speed is
measured by `python tests/benchmarks/bench_classify.py`. It never raises on any ``str``;
validating input is the caller's job.

How the type is decided (first rule that applies wins):

1. **multimedia** - any attachment at all, or a media URL in the text: a link (``scheme://`` or
   ``www.``) whose path ends in an image, video or audio extension, a ``data:image/...`` URI, or a
   YouTube/Vimeo video link. Words alone ("describe", "text", "image", "video") never make a
   query multimedia, and neither do bare file names ("rename every .jpg"): those are technical.
2. Otherwise three scores are added up from one term table (single words and phrases of up to
   four words, English plus common European-language words) and a few structural patterns:

   - *technical*: programming, infrastructure and tooling, security, data and ML, math,
     statistics, engineering vocabulary; plus structure - fenced or inline code, code-like
     punctuation, stack frames, error names, SQL;
   - *research*: analysis framing (analyze, compare, evidence, literature, causes, history,
     implications, report, "how did ..."), several listed dimensions, explicit depth;
   - *simple*: a prior (what a query with no evidence scores), small talk, rewrite and
     translation requests, everyday topics, unit conversions, and look-up phrasing.

   Three rules keep the vocabulary honest:

   - Question phrasing ("what does ... mean", "how do I", "who", "best way") leans simple only
     when no technical vocabulary or structure is present: "what does RSVP stand for" is simple,
     "what does HTTP 418 mean" and "how do I exit vim" are technical.
   - A rewrite or translation request ("translate 'good morning' to French", "rephrase: ...")
     is judged on its instruction only: the text it carries does not vote.
   - Strong research framing beats technical *topic* words (compare microservices and
     monoliths across cost, team structure and reliability -> research), but not technical
     *evidence* - code, errors - or a technical task verb ("write", "design", "deploy").
     "describe the difference between TCP and UDP" stays technical.

   Ties go to technical, then simple.

Complexity starts from the type (simple -> simple, technical -> moderate, research and multimedia
-> complex) and is raised one step for each of: explicit depth ("in depth", "thorough", "step by
step", "comprehensive"...), three or more sub-questions, a long query (more than 120 words
outside code blocks; two steps above 300). A *technical* query is lowered to simple when it is a
short look-up one-liner: at most 6 words, phrased as a look-up ("what does ls -la do", "how to
center a div", "chmod 755 vs 644?", but not "how does X work" or "why ..."), with no code, no
error text and no build verb ("write", "implement", "fix"...). Budgets are 5 / 7 / 10 seconds by
complexity; multimedia is always complex, so always 10 s.

`confidence` grows with the margin between the winning score and the runner-up (0.99 for an
attachment, 0.95 for a media URL).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

__all__ = ["BUDGET_SECONDS", "COMPLEXITIES", "Classification", "classify"]

COMPLEXITIES = ("simple", "moderate", "complex")
BUDGET_SECONDS = {"simple": 5, "moderate": 7, "complex": 10}

_MAX_SCAN = 20_000  # only this much of a query is scanned; keeps huge inputs cheap
_MAX_SIGNALS = 8
_SIMPLE_PRIOR = 2.0  # what "simple" scores with no evidence: one weak technical word can't outvote it


def _lazy(source: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """A pattern compiled on first use: compiling all of this module's at import would slow every
    cold `modelctl route` (`bench_routing.py --only cold`), and one query needs few of them."""
    return functools.cache(lambda: re.compile(source, flags))


class Classification(NamedTuple):  # not a dataclass: see the note in core/routing.py
    query_type: str  # "simple" | "technical" | "research" | "multimedia"
    complexity: str  # "simple" | "moderate" | "complex"
    budget_seconds: float  # the complexity's whole seconds; the segment's budget once route applies it
    confidence: float  # 0..1
    signals: tuple[str, ...]  # short human-readable reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "query_type": self.query_type,
            "complexity": self.complexity,
            "budget_seconds": self.budget_seconds,
            "confidence": self.confidence,
            "signals": list(self.signals),
        }


# ------------------------------------------------------------------------------ media detection

_MEDIA_EXTS = frozenset(
    # the design's list ...
    "png jpg jpeg gif webp heic svg mp4 mov mp3 wav "
    # ... and their close relatives
    "heif bmp tif tiff avif webm mkv avi m4v m4a aac ogg oga flac opus".split()
)
_URL = _lazy(r"(?:\b[a-z][a-z0-9+.-]{1,15}://|\bwww\.)[^\s<>\"'`]+|\bdata:(?:image|video|audio)/", re.I)
_VIDEO_LINK = _lazy(
    r"\b(?:youtube\.com/(?:watch|shorts/|embed/|live/|v/)|youtu\.be/\w|vimeo\.com/(?:video/)?\d)", re.I
)


def _media_url(text: str, low: str) -> str | None:
    """The first link in `text` that points at media, or None."""
    if "youtu" in low or "vimeo" in low:
        m = _VIDEO_LINK().search(text)
        if m:
            return m.group(0)
    if "://" not in text and "www." not in low and "data:" not in low:
        return None
    for m in _URL().finditer(text):
        url = m.group(0)
        if url[:5].lower() == "data:":
            return url
        path = url.split("?", 1)[0].split("#", 1)[0].rstrip(".,;:!)]}>")
        dot = path.rfind(".")
        if dot > path.find("//") + 2 and path[dot + 1 :].lower() in _MEDIA_EXTS:
            return url
    return None


def _printable(s: str, limit: int = 48) -> str:
    s = s[: limit + 1]
    if not s.isprintable():
        s = "".join(ch if ch.isprintable() else "?" for ch in s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _attachment_name(a: object) -> str:
    s = str(a).split("?", 1)[0].replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return _printable(s) or "(unnamed)"


# ------------------------------------------------------------------------------ the term table
#
# Tokens: the lowercased text with punctuation turned into spaces (apostrophes dropped, so
# "what's" -> "whats"; "+", "#", "-" and "_" kept, so "c++", "c#", "long-term" stay whole), split
# on whitespace. A token with non-ASCII characters is split again into runs of Latin letters and
# digits, so "pythonで辞書" yields "python". Phrases are matched on consecutive tokens.

_TECH = """
3: python javascript typescript java golang kotlin scala haskell perl php powershell bash zsh
3: csharp dotnet cpp objective-c elixir erlang clojure fortran cobol matlab julia lua dart c++ c# f#
3: sql nosql mysql postgres postgresql sqlite mongodb mongo redis kafka elasticsearch cassandra
3: dynamodb bigquery snowflake spark hadoop airflow dbt clickhouse neo4j postgis
3: docker dockerfile kubernetes k8s kubectl helm terraform ansible nginx git github gitlab
3: prometheus grafana datadog istio envoy linkerd consul vagrant openshift eks gke aks heroku
3: vercel netlify cloudflare circleci argocd jenkins "github actions"
3: npm pip webpack django flask fastapi react reactjs vue angular jquery nodejs nextjs svelte nuxt
3: tailwind redux prisma sequelize hibernate "node js" "next js"
3: numpy pandas pytorch tensorflow sklearn scikit-learn keras xgboost matplotlib seaborn jupyter
3: vim emacs vscode xcode gradle maven cmake makefile virtualenv venv conda poetry pipenv rustup
3: ffmpeg imagemagick awk grep sed chmod chown sudo crontab cron systemd systemctl kubelet
3: localhost ipconfig ifconfig netstat nslookup traceroute iptables stdout stderr stdin argv
3: traceback segfault stacktrace nullpointerexception regex regexp async await mutex semaphore
3: malloc goroutine rebase stash repo monorepo protobuf protobufs graphql grpc websocket websockets
3: json yaml yml toml csv jsx tsx py js ts #include jvm bios uefi big-o deadlock
3: "pull request" "stack trace" "merge conflict" "command line" "segmentation fault" "core dumped"
3: "left join" "inner join" "outer join" "group by" "order by" "insert into" "create table"
3: "unit test" "unit tests" "big o" "web development" "document object model" "binary search"
3: "garbage collection" "time complexity" "race condition" "hash map" "linked list" "for loop"
3: "while loop" "if statement" "null pointer" "memory leak" "floating point" "dependency injection"
3: "environment variables" "virtual environment" "permission denied" "exit code" "bad gateway"
3: "status code" "command not found" "no such file" "syntax error"
3: cryptography encryption encrypt encrypted decrypt decryption rsa aes sha256 sha1 md5 hmac x509
3: csrf xss oauth2 openid saml kerberos ldap "public key" "private key" "sql injection"
3: excel vlookup xlookup spreadsheet spreadsheets vba macro macros "google sheets" "pivot table"
3: variance bayes bayesian anova p-value t-test "expected value" "standard deviation"
3: "random variable" "confidence interval" "null hypothesis" "linear regression"
3: "logistic regression" "machine learning" "neural network" "neural networks" "deep learning"
3: "gradient descent" "learning rate" "data frame" overfitting backpropagation embeddings
3: transformer transformers tokenizer dataframe dataframes
3: mosfet op-amp microcontroller arduino raspberry fpga verilog vhdl plc "stress analysis"
3: "finite element" "heat transfer" "fluid dynamics" "control system" "transfer function"
2: code coding programming programmer function functions method methods variable variables
2: compile compiler compiled runtime debug debugger debugging bug bugs exception exceptions
2: database databases schema query queries api apis endpoint endpoints backend frontend
2: deploy deployment deployments container containers pod pods cluster linux ubuntu debian
2: centos unix shell terminal cli script scripts algorithm algorithms recursion recursive
2: thread threads threading multiprocessing concurrency concurrent callback closure closures
2: lambda pointer pointers heap heapsort quicksort mergesort hashmap hashtable array arrays
2: tuple tuples dict dictionary struct enum boolean integer integers int float string strings
3: tcp udp dns tls ssl ssh http https cors jwt html html5 css xml handshake
2: oauth dom microservice packet packets
2: microservices orm migration migrations index indexes commit commits branch merge
2: unittest pytest jest junit mock mocking refactor refactoring repository devops ci cd
2: yarn pnpm babel eslint sdk gcc clang llvm rustc cargo rust swift ruby println printf console
2: aws s3 ec2 rds gcp azure serverless cloudformation proxy webhook webhooks socket
2: compression encoding utf unicode ascii hex binary bitwise byte bytes cpu gpu ram latency
2: kernel vruntime scheduler htop kworker ip ipv4 ipv6 subnet vpn firewall gateway replica
2: replicas replication sharding rabbitmq queue cache caching lru nlogn ls vm vms aggregation
2: pipeline apiversion metadata webapp software hardware computer performance optimize optimise
2: scalable ssd hdd usb bluetooth framework frameworks library libraries package packages
2: dependency dependencies cryptographic hashing certificate certificates signature
2: signatures authentication authorization permissions statistics statistical distribution
2: regression dataset datasets training inference classifier classification neural tensor
2: tensors formula formulas column columns fraction fractions dice
2: prove proof proofs theorem lemma induction derivative derivatives derive integral integrate
2: integrals eigenvalue eigenvalues eigenvector matrix matrices determinant equation equations
2: recurrence irrational polynomial logarithm calculus lagrange fourier differential converges
2: convergence vector vectors probability derivation
2: voltage ohm ohms resistor resistors capacitor transistor circuit circuits torque beam bending
2: reynolds rpm kn kw gear thermodynamics amplifier pcb breaker
2: "load balancer" "load balance" "load balancing" "process and a thread" "hash function"
2: "read a file" "parse this" "this string" "this code" "this function" "this query"
2: "this loop" "this script" "this regex" "line by line" "at runtime"
1.5: error errors fatal panic crash crashes crashing denied timeout stack server servers
1.5: node express spring rails laravel network networking protocol bandwidth storage disk
1.5: png jpg jpeg webp gif mp4 svg pdf file files folder directory directories path
1.5: web keyword keywords class classes object objects instance loop loops parse parsing parser
1.5: config configure install installed build builds login password passwords auth token tokens
1.5: memory engine boot boots booting reboot laptop firmware driver drivers solve solved series
1.5: sequence graph graphs tree trees modulo windows macos ios android browser command commands
1.5: process processes test tests testing
1: print output input inputs cell cells row rows table tables limit limits data model models
1: system systems architecture design developer developers engineering scalability calculate
1: compute load efficiency signal frequency prime primes
0.5: go current
"""

# analysis framing: what makes a question "research"
_RESEARCH = """
3: analyze analyse analysis analyses analyzing analysing literature evidence studies essay
3: geopolitical implications consequences historiography "literature review" "pros and cons"
3: "for and against" "case study" "current state" "scientific consensus"
3: "what does the research" "what does current research"
3: análisis analizar analiza analysiere analysieren analisi analizza analizzare analyser analysez
3: comparar compara comparer comparez vergleiche vergleichen confronta confrontare ursachen causas
3: auswirkungen impacto impatto approfondito profondeur profundidad ausführlich exhaustivo exhaustif
3: umfassend dettagliato détaillé détail detalle
2.5: compare comparison comparisons compared comparing contrast evaluate evaluation assess
2.5: assessment history historical causes debate arguments hypotheses theories consensus
2.5: synthesize synthesise synthesis research investigate examine critically empirical report
2.5: impact impacts effectiveness factors trade-offs tradeoffs origins "what explains"
2.5: geschichte historia histoire storia causa cause effetti efectos effets
2: comprehensive thorough thoroughly exhaustive detailed overview review discuss explore
2: economic economics economy political politics policy policies society societal social
2: geopolitics regulation regulatory industry market markets revolution empire dynasty
2: civilization civilisation century centuries decades decade long-term war wars wartime
2: theory hypothesis scientific trends trend perspectives schools philosophy
2: influence influenced shaped reshape reshaped transform transformed developments
2: outcomes decline declined collapse collapsed fall rise rose effects differ differed
2: timeline timelines strategy strategies landscape competitive competitors industrialized
2: countries nations global worldwide international health environmental climate
2: trace outline interventions mitigation generation generations colonial colonialism
2: imperialism capitalism socialism communism nationalism feminism globalization globalisation
2: industrialization inequality poverty democracy migration demographics sociology psychology
2: anthropology archaeology economists historians scholars researchers efficacy meta-analysis
2: shape legacy ideology ideologies movement movements reform reforms sanctions diplomacy
2: diplomatic treaty colonies independence era period medieval ancient renaissance
2: enlightenment modern contemporary well-sourced sources citations cite changed evolved
2: evolution monarchy government governments parliament parliamentary constitutional election
2: elections electoral republic governance
2: "how did" "why did" "what were" "how has" "how have" "role of"
1: why how differences advantages disadvantages covering considering across
1: "over the past" "over the last" "since the" "what led" "what caused" "in terms of"
"""

# everyday, conversational and language requests
_SIMPLE = """
3: hi hello hey thanks thank lol haha bye goodbye cheers ok okay hola bonjour ciao hallo
3: synonym synonyms antonym antonyms rhymes grammar plural spell spelling translate translation
3: "good morning" "good night" "good evening" "good afternoon" "how are you" "whats up"
3: "thank you" "hows your day" "talk tomorrow" "opposite of" "how do you say"
3: "cómo se dice" "come si dice"
2: joke fact recipe weather capital population currency calories tablespoons teaspoons cups
2: ounces ounce grams kilograms pounds miles km feet inches ml liters litres gallon gallons
2: celsius fahrenheit kelvin tip birthday haiku poem limerick suggest recommend name title
"""

# look-up phrasing: leans simple only when no technical vocabulary or structure is present
_LOOKUP = """
3: "stand for" "stands for"
2: define definition meaning mean means
1: who when where which convert "how many" "how much" "how long" "how far" "how tall"
1: "how often" "what year" "what time" "is it"
"""

# explicit depth: raises complexity; adds to research (but is not "framing")
_DEPTH = """
1: thorough thoroughly comprehensive exhaustive detailed in-depth step-by-step long-form
1: ausführlich approfondito profondeur dettagliato détaillé exhaustivo exhaustif umfassend
1: detallado "in depth" "step by step" "in detail" "go into detail" "deep dive"
1: "walk me through" "en profundidad" "en detalle" "en détail" "in modo approfondito"
"""

_T, _R, _S, _L, _D = range(5)


def _build_table() -> tuple[dict[str, tuple[float, ...]], frozenset[str],
                            dict[str, tuple[tuple[int, ...], frozenset[str]]]]:
    """Parse the tables above into term -> weights (tech, research, simple, lookup, depth), the
    single words, and per phrase's first word the phrases' lengths and second words."""
    table: dict[str, list[float]] = {}
    for kind, spec in ((_T, _TECH), (_R, _RESEARCH), (_S, _SIMPLE), (_L, _LOOKUP), (_D, _DEPTH)):
        for line in spec.strip().splitlines():
            weight, _, terms = line.partition(": ")
            value = float(weight)
            # words, and "quoted phrases": split on the quotes, the phrases are the odd parts
            for i, part in enumerate(terms.split('"')):
                for term in (part,) if i % 2 else part.split():
                    row = table.get(term)
                    if row is None:
                        row = table[term] = [0.0] * 5
                    elif row[kind]:
                        raise ValueError(f"classifier term listed twice: {term}")
                    row[kind] = value
    words = frozenset(t for t in table if " " not in t)
    starts: dict[str, tuple[set[int], set[str]]] = {}
    for t in table:
        if " " in t:
            parts = t.split(" ")
            lengths, seconds = starts.setdefault(parts[0], (set(), set()))
            lengths.add(len(parts))
            seconds.add(parts[1])
    return (
        {t: tuple(w) for t, w in table.items()},
        words,
        {first: (tuple(sorted(ns)), frozenset(ss)) for first, (ns, ss) in starts.items()},
    )


_TERMS, _WORDS, _PHRASE_STARTS = _build_table()
_PHRASE_FIRSTS = frozenset(_PHRASE_STARTS)

# requests to reword or translate carried text
_REWRITE = frozenset(
    """translate traduis traduce traduci traduza traduire übersetze übersetzen tradúceme rewrite
    reword rephrase paraphrase proofread shorten summarize summarise summary polish correct""".split()
)
# with "select" and "from", any of these (or "*", or an upper-case SELECT) means SQL
_SQL_WORDS = frozenset("where join group order limit distinct count sum avg having union table".split())
# verbs that make a technical topic a technical task (and block the one-liner lowering)
_BUILD = frozenset(
    """write implement build create design fix debug deploy optimize optimise refactor install
    configure migrate generate convert automate setup""".split()
)
# question openers that lean simple when no domain vocabulary speaks
_LOOKUP_START = frozenset("what whats how which who when where define is does are can".split())
# look-up openers for the technical one-liner rule ("how does X work" is not a look-up)
_ONE_LINER_START = frozenset("what whats which define is does are can".split())

_PUNCT = str.maketrans(
    {**dict.fromkeys('!"$%&()*,./:;<=>?@[\\]^`{|}~', " "), "'": None, "’": None,
     **dict.fromkeys("—–“”‘«»「」『』。，、？！：；（）…¿¡•·", " ")}
)
_PUNCT_ASCII = bytes(ord(_PUNCT.get(c) or chr(c)) if c < 128 else c for c in range(256))
_DROP_ASCII = bytes(c for c in range(128) if c in _PUNCT and _PUNCT[c] is None)
_LATIN_RUN = _lazy(r"[0-9a-z_\u00c0-\u024f]+(?:\+\+|#)?(?:-[0-9a-z_\u00c0-\u024f]+)*")

# structure
_FENCE = _lazy(r"```.*?(?:```|\Z)", re.S)
_INLINE_CODE = _lazy(r"(?<!`)`[^`\n]{1,80}`(?!`)")
# Line patterns use [ \t], never \s: \s spans newlines and makes them quadratic. They begin with
# "\n", not ^, and scan "\n" + text (_lines): ^ under re.M is tried at every character, a leading
# literal is found by a fast scan (bench_classify.py); no match spans a line, so counts are the same.
_STACK_FRAME = _lazy(
    r'\n[ \t]+at \S+[(:]|\n[ \t]*File "[^"\n]*", line \d+|\ngoroutine \d+ \[|\n[ \t]+\S+\.\w+:\d+(?::\d+)?\)?$',
    re.M,
)
_ERROR_NAME = _lazy(r"\b\w+(?:Error|Exception)\b|\berror(?:\[\w+\])?:|\bERR!")
# `\w\([^()\s]*\)|\w\.\w+\(`, found from its "(" or "." with the word character behind it: a pattern that
# starts with a literal is searched for in C (bench_classify.py), and matches are counted the same,
# since no match ends in a word character
_CALL = _lazy(r"\((?<=\w\()[^()\s]*\)|\.(?<=\w\.)\w+\(")
_TAG = _lazy(r"</?[a-z][a-z0-9]*[ >/]")
_SEMI = _lazy(r";(?:\S|$)", re.M)
_LINE_CODE = _lazy(r"\n(?:[ \t]*(?:\$|>>>|#!)[ \t]|[ \t]{2,}\S|\t)")
_MATH = _lazy(r"\b[a-z] ?[-+*/^=<>] ?(?:\d|[a-z]\b)|\^\d")
# each pair under a character it contains: one memchr for the character spares most pair scans
_CODE_PAIRS = {"=": ("=>", "==", "!=", "<=", ">="), ">": ("->",), ":": ("::",), "&": ("&&",),
               "|": ("||",), "+": ("++",), "[": ("[[",), "{": ("{",), "}": ("}",)}
_NUMBER_UNIT = _lazy(r"\d ?(?:%|°|km\b|mi\b|kg\b|lbs?\b|oz\b|g\b|cm\b|mm\b|m\b|ft\b|in\b|ml\b|l\b)")
_DECADE = _lazy(r"\b(?:1[0-9]{2}0|20[0-9]0)s\b")
_LIST_ITEM = _lazy(r"\n[ \t]*(?:\d+[.)]|[-*•])[ \t]+\S")
_HEAD_MARKS = _lazy(r"[:\n'\"«“「‘]")


def _lines(text: str) -> str:
    """What the line patterns scan: each line, the first too, follows a newline."""
    return "\n" + text


def _tokens(low: str) -> list[str]:
    if low.isascii():  # the same mapping as bytes, for bytes.translate's speed (bench_classify.py)
        return low.encode().translate(_PUNCT_ASCII, _DROP_ASCII).decode().split()
    fixed: list[str] = []
    for t in low.translate(_PUNCT).split():
        if t.isascii():
            fixed.append(t)
        else:
            fixed.extend(_LATIN_RUN().findall(t))
    return fixed


# ASCII whitespace (as str.split sees it) to b" ", everything else to b"x"
_SPACE_MARKS = bytes(32 if c < 128 and chr(c).isspace() else 120 for c in range(256))


def _word_count(text: str) -> int:
    """len(text.split()) without making the words: for ASCII text, two passes in C."""
    if text.isascii():
        marks = text.encode().translate(_SPACE_MARKS)
        return marks.count(b" x") + marks.startswith(b"x")
    return len(text.split())


def _head_end(low: str) -> int | None:
    """Where a rewrite request's instruction ends: the first colon or newline, or the whitespace
    before an opening quote (or a quote that opens the text). A scan for the marks, then a look
    at the character before a quote, is faster than one regex with (?:^|\\s) (bench_classify.py)."""
    start = 0
    while (mark := _HEAD_MARKS().search(low, start)) is not None:
        i = mark.start()
        if low[i] in ":\n" or i == 0:
            return i
        if low[i - 1].isspace():
            return i - 1
        start = i + 1
    return None


def _weigh(tokens: list[str], tokset: set[str]) -> tuple[tuple[float, ...], list[str]]:
    """Sum the table weights of the words (each counted once) and phrases in `tokens`.

    Returns the five totals (tech, research, simple, lookup, depth) and the terms that matched.
    """
    terms = _TERMS
    hits = list(tokset & _WORDS)
    n = len(tokens)
    # A phrase's first word is found by list.index, a scan in C, and only where the next token can
    # continue a phrase ("in" is common, "in depth" is not). The order of the hits does not
    # matter: the weights add up exactly, and _top sorts them.
    for first in tokset & _PHRASE_FIRSTS:
        lengths, seconds = _PHRASE_STARTS[first]
        if seconds.isdisjoint(tokset):
            continue
        i = tokens.index(first)
        while True:
            if i + 1 < n and tokens[i + 1] in seconds:
                for ln in lengths:
                    if i + ln <= n:
                        phrase = " ".join(tokens[i : i + ln])
                        if phrase in terms:
                            hits.append(phrase)
            try:
                i = tokens.index(first, i + 1)
            except ValueError:
                break
    t = r = s = lk = d = 0.0
    for h in hits:
        w = terms[h]
        t += w[0]
        r += w[1]
        s += w[2]
        lk += w[3]
        d += w[4]
    return (t, r, s, lk, d), hits


def _top(hits: list[str], kinds: tuple[int, ...], extra: Sequence[str] = (), k: int = 4) -> str:
    """The strongest matched terms of the given kinds (then `extra`), for a signal."""
    scored = []
    for h in hits:
        w = _TERMS[h]
        best = max([w[kind] for kind in kinds]) if len(kinds) > 1 else w[kinds[0]]
        if best:
            scored.append((-best, h))
    scored.sort()
    return ", ".join(list(dict.fromkeys([h for _, h in scored] + list(extra)))[:k])


_ENOUGH_SYNTAX = 3  # three hits already score the most (6.0) and read "code syntax"


def _code_syntax_hits(text: str) -> int:
    """Code-like notation, counted up to three: more would not change the score, so the costlier
    scans (last) are skipped once three are found."""
    hits = 0
    for char, pairs in _CODE_PAIRS.items():
        if char in text:
            for pair in pairs:
                hits += text.count(pair)
    scans = (
        (";" in text, _SEMI, text),
        ("<" in text, _TAG, text),
        ("\n" in text or text[:1] in "$>#", _LINE_CODE, _lines(text)),
        ("(" in text, _CALL, text),
        ("=" in text or "^" in text or "*" in text or "+" in text or "/" in text, _MATH, text),
    )
    for present, pattern, subject in scans:
        if hits >= _ENOUGH_SYNTAX:
            return _ENOUGH_SYNTAX
        if present:
            hits += len(pattern().findall(subject))
    return min(hits, _ENOUGH_SYNTAX)


def _confidence(best: float, runner_up: float) -> float:
    return round(0.5 + 0.49 * (1.0 - math.exp(-max(best - runner_up, 0.0) / 2.5)), 3)


def _result(query_type: str, level: int, confidence: float, signals: list[str]) -> Classification:
    complexity = COMPLEXITIES[max(0, min(2, level))]
    budget = 10 if query_type == "multimedia" else BUDGET_SECONDS[complexity]
    unique = tuple(dict.fromkeys(signals))[:_MAX_SIGNALS]
    return Classification(query_type, complexity, budget, confidence, unique)


def classify(query: str, attachments: Sequence[str] = ()) -> Classification:
    """Classify `query` (rules in the module docstring). Never raises on a ``str``."""
    if not isinstance(query, str):
        query = "" if query is None else str(query)
    if isinstance(attachments, str):  # noqa: SIM108 - one conditional expression inside another reads worse
        attachments = (attachments,) if attachments else ()
    else:
        attachments = tuple(attachments or ())
    text = query[:_MAX_SCAN]
    truncated = len(query) > _MAX_SCAN
    low = text.lower()

    # 1. multimedia: attachments, or media links in the text
    if attachments:
        named = [f"attachment: {_attachment_name(a)}" for a in attachments[:3]]
        if len(attachments) > 3:
            named.append(f"+{len(attachments) - 3} more attachments")
        return _result("multimedia", 2, 0.99, named)
    media = _media_url(text, low)
    if media:
        return _result("multimedia", 2, 0.95, [f"media URL: {_printable(media.split('://', 1)[-1])}"])

    # 2. structure
    signals: list[str] = []
    structural = 0.0
    prose = low
    if "```" in text:
        prose = _FENCE().sub(" ", low)
        structural += 6.0
        signals.append("code block")
    if "://" in prose or "www." in prose:
        prose = _URL().sub(" link ", prose)
    inline = 2.0 if "`" in text and _INLINE_CODE().search(text) else 0.0
    if inline:
        structural += inline
        signals.append("inline code")
    if ("\n" in text or 'File "' in text) and _STACK_FRAME().search(_lines(text)):
        structural += 5.0
        signals.append("stack trace")
    if ("rror" in text or "xception" in text or "ERR!" in text) and _ERROR_NAME().search(text):
        structural += 3.0
        signals.append("error message")
    syntax = _code_syntax_hits(text)
    if syntax:
        structural += min(2.0 * syntax, 6.0)
        signals.append("code syntax" if syntax > 1 else "code-like notation")

    tokens = _tokens(prose)
    tokset = set(tokens)
    if "select" in tokset and "from" in tokset and ("SELECT" in text or "*" in text or tokset & _SQL_WORDS):
        structural += 4.0
        signals.append("SQL")
    n_words = _word_count(prose)

    # 3. a rewrite/translation request is judged on its instruction, not on the text it carries
    vote, vote_words = prose, n_words  # the part of the query whose wording votes
    rewrite = False
    if structural == 0 and tokset & _REWRITE:
        head_end = _head_end(low)
        if head_end is not None:
            head = _tokens(low[:head_end])
            if head and set(head[:6]) & _REWRITE and _weigh(head, set(head))[0][_T] < 3:
                rewrite = True
                tokens, tokset = head, set(head)
                vote = low[:head_end]
                vote_words = _word_count(vote)
                signals.append("rewrite/translate request")

    # 4. scores
    (topic, research, simple_w, lookup_w, depth_w), hits = _weigh(tokens, tokset)
    tech_extra: list[str] = []
    res_extra: list[str] = []
    simple_extra: list[str] = []
    if "rror" in low or "xception" in low:  # error class names the table does not list
        for t in sorted(tokset):
            if len(t) > 6 and t.endswith(("error", "exception")) and t not in _TERMS:
                topic += 2.0
                tech_extra.append(t)
    simple = _SIMPLE_PRIOR + simple_w
    if rewrite:
        simple += 4.0
    phrasing_counts = topic + structural < 1
    if phrasing_counts:  # phrasing is neutral: it leans simple only when nothing else speaks
        simple += lookup_w
        if (tokens[0] if tokens else "") in _LOOKUP_START and vote_words <= 10:
            simple += 1.0
        if vote_words <= 5:
            simple += 0.5
        if _NUMBER_UNIT().search(vote):
            simple += 1.5
            simple_extra.append("quantity")
    commas = vote.count(",")
    if research and commas >= 2 and vote_words >= 12:  # "across cost, safety and reliability"
        research += 1.0 + 0.5 * min(commas, 4)
        res_extra.append("several dimensions")
    if vote_words > 25:
        research += 1.0
    decade = _DECADE().search(vote) if "0s" in vote else None
    if decade:  # "since the 1990s": a period to explain, not a date to look up
        research += 2.0
        res_extra.append(decade.group(0))
    framing = research
    if depth_w:
        research += 1.5

    action = topic >= 3 and not tokset.isdisjoint(_BUILD)
    tech = topic + structural
    if framing >= 6 and structural == 0 and not action:
        tech = topic * 0.5
    elif structural or action:
        research *= 0.5

    scores = {"technical": tech, "simple": simple, "research": research}  # ties: first wins
    query_type = max(scores, key=scores.__getitem__)
    ranked = sorted(scores.values(), reverse=True)
    # the prior is a bar to clear, not evidence: "simple by default" is not a confident answer
    best = ranked[0] - (_SIMPLE_PRIOR if query_type == "simple" else 0.0)
    confidence = _confidence(best, ranked[1])

    if query_type == "technical" and (topic >= 1 or tech_extra):
        signals.append("technical terms: " + _top(hits, (_T,), tech_extra))
    elif query_type == "research":
        signals.append("analysis terms: " + _top(hits, (_R,), res_extra))
    elif query_type == "simple":
        plain = _top(hits, (_S, _L) if phrasing_counts else (_S,), simple_extra, 3)
        if plain:
            signals.append("plain-language request: " + plain)
        elif not signals:
            signals.append("no technical or research signals")

    # 5. complexity
    level = {"simple": 0, "technical": 1, "research": 2}[query_type]
    raised = False
    if depth_w:
        level += 1
        raised = True
        signals.append("explicit depth: " + _top(hits, (_D,), k=1))
    subq = prose.count("?")
    if "\n" in prose:
        subq += len(_LIST_ITEM().findall(_lines(prose)))
    if subq >= 3:
        level += 1
        raised = True
        signals.append(f"{subq} sub-questions")
    if n_words > 120 or truncated:
        level += 2 if (n_words > 300 or truncated) else 1
        raised = True
        signals.append(f"long query ({n_words}{'+' if truncated else ''} words)")
    if (
        query_type == "technical"
        and not raised
        and n_words <= 6
        and structural == inline  # a `name` in backticks is fine, real code is not
        and tokset.isdisjoint(_BUILD)
        and tokens
        and (
            tokens[0] in _ONE_LINER_START
            or tokens[:2] in (["how", "to"], ["how", "do"])
            or (tokens[0] not in ("how", "why") and low.rstrip().endswith(("?", "？")))
        )
    ):
        level = 0
        signals.append("short technical one-liner")
    return _result(query_type, level, confidence, signals)
