"""Training topic models, and the labelled data they learn from.

Pure functions, no Beam: ``newsbeam train-topics`` and ``bench/topic_quality.py`` call them.

- Loaders turn the shared evaluation data (``shared/data/topics``), a user's table (csv, jsonl,
  parquet) or accumulated newsbeam output (weak labels from URL desks) into ``Example`` rows.
- :func:`is_held_out` is the one split function: training skips exactly the rows the benchmark
  scores, because both ask this function.
- :func:`train` fits a linear SVM (scikit-learn ``LinearSVC``) on the features of
  ``transforms.enrichment.topic.vectorize``, with a softmax temperature fitted out of fold, and
  :func:`save_model` writes it as ``weights.npz`` + ``config.json``, which
  ``TopicModel.load`` reads with numpy alone.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import html
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transforms.enrichment.topic import (
    CONFIG_FILE,
    FORMAT_VERSION,
    SEEDS_FILE,
    WEIGHTS_FILE,
    FeatureSpec,
    Lexicon,
    url_hint,
    vectorize,
)

# Share of each data set the benchmark keeps for itself (keyed by a hash of the row, so the split
# does not depend on file order). For AG News this is a share of test.csv only; SIB-200 uses its
# own published test split.
HELD_OUT_SHARE = {"10kgnad": 0.3, "agnews": 0.25, "bbc": 0.3, "masakhanews": 0.3}
# SIB-200 folders we read: the model serves German and English.
SIB_LANGUAGES = {"deu_Latn": "de", "eng_Latn": "en"}
# AG News writes '&#36;' as '#36;'.
_NUMERIC_ENTITY = re.compile(r"(?<!&)#(\d+);")


class TrainError(ValueError):
    """Training data that cannot make a model (no text column, one class only …)."""


@dataclasses.dataclass(frozen=True)
class Example:
    """One labelled text. ``key`` identifies the row for the held-out split."""

    title: str
    text: str
    label: str
    dataset: str
    language: str
    key: str
    held_out: bool = False


def is_held_out(dataset: str, key: str) -> bool:
    """Whether a row of a shared data set is reserved for evaluation (never trained on).

    Keys may start with the data set's own split: SIB-200 keeps its published test split, AG
    News its training file (``train/…``) for training; other rows are split by a hash of
    the key, so the split does not depend on file order.
    """
    split = key.split("/", 1)[0]
    if dataset == "sib200":
        return split == "test"
    if split == "train":
        return False
    share = HELD_OUT_SHARE.get(dataset, 0.0)
    digest = hashlib.sha256(f"{dataset}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _text_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


# --- shared data sets --------------------------------------------------------------------------


def _label_map(root: Path) -> dict[str, dict[str, str | None]]:
    """{data set: {label: IPTC code or None}} from label_map_to_iptc_top.json.

    None marks a desk with no single IPTC equivalent (10kGNAD Panorama, SIB-200 geography):
    such rows are dropped from training and evaluation rather than forced into a class.
    """
    raw = json.loads((root / "label_map_to_iptc_top.json").read_text(encoding="utf-8"))
    return {
        name: {label: entry.get("iptc") for label, entry in labels.items()}
        for name, labels in raw.items()
        if name not in ("_note", "iptc_top")
    }


def _example(
    dataset: str, language: str, key: str, code: str | None, title: str, text: str
) -> Example | None:
    """The row as an Example; a desk without an IPTC equivalent gets the label "" (dropped
    unless the caller asks for such rows, see :func:`load_shared_topics`)."""
    return Example(title, text, code or "", dataset, language, key, is_held_out(dataset, key))


def _read_10kgnad(root: Path, labels: Mapping[str, str | None]) -> Iterator[Example]:
    with open(root / "10kgnad" / "test.csv", encoding="utf-8", newline="") as f:
        for label, text in csv.reader(f, delimiter=";", quotechar="'"):
            yield _example("10kgnad", "de", _text_key(text), labels[label], "", text)


def _agnews_text(s: str) -> str:
    # The CSV marks newlines with a backslash and keeps HTML entities as '#36;' or '&lt;'.
    return html.unescape(_NUMERIC_ENTITY.sub(r"&#\1;", s.replace("\\", " ")))


def _read_agnews(root: Path, labels: Mapping[str, str | None]) -> Iterator[Example]:
    for split, name in (("train", "train_first581.csv"), ("test", "test.csv")):
        with open(root / "agnews" / name, encoding="utf-8", newline="") as f:
            for label, title, text in csv.reader(f):
                key = f"{split}/{_text_key(title, text)}"
                yield _example(
                    "agnews", "en", key, labels[label], _agnews_text(title), _agnews_text(text)
                )


def _read_bbc(root: Path, labels: Mapping[str, str | None]) -> Iterator[Example]:
    with open(root / "bbc" / "bbc.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            yield _example("bbc", "en", row["id"], labels[row["label"]], row["title"], row["text"])


def _read_masakhanews(root: Path, labels: Mapping[str, str | None]) -> Iterator[Example]:
    for split in ("dev", "test"):
        with open(root / "masakhanews" / "eng" / f"{split}.tsv", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                key = row["url"] or _text_key(row["headline"], row["text"])
                yield _example(
                    "masakhanews", "en", key, labels[row["category"]], row["headline"], row["text"]
                )


def _read_sib200(root: Path, labels: Mapping[str, str | None]) -> Iterator[Example]:
    for folder, language in SIB_LANGUAGES.items():
        for split in ("train", "dev", "test"):
            path = root / "sib200" / folder / f"{split}.tsv"
            with open(path, encoding="utf-8", newline="") as f:
                for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                    key = f"{split}/{row['index_id']}"
                    yield _example(
                        "sib200", language, key, labels[row["category"]], "", row["text"]
                    )


_READERS = {
    "10kgnad": _read_10kgnad,
    "agnews": _read_agnews,
    "bbc": _read_bbc,
    "masakhanews": _read_masakhanews,
    "sib200": _read_sib200,
}


def load_shared_topics(root: Path | str, keep_unmapped: bool = False) -> list[Example]:
    """All labelled rows of ``shared/data/topics`` mapped to IPTC codes, with held-out flags.

    Rows whose label maps to no IPTC code are left out (see :func:`_label_map`), unless
    ``keep_unmapped``: then they come with the label "" (10kGNAD Panorama, SIB-200 geography),
    for weak labelling.
    """
    root = Path(root)
    label_maps = _label_map(root)
    csv.field_size_limit(2**31 - 1)  # MasakhaNEWS has multi-line fields longer than the default
    examples = []
    for dataset, read in _READERS.items():
        examples.extend(e for e in read(root, label_maps[dataset]) if keep_unmapped or e.label)
    return examples


# --- the user's own data ---------------------------------------------------------------------


def label_code(raw: str, lexicon: Lexicon) -> str:
    """An IPTC top-level code or English IPTC name becomes the code; other labels stay as they
    are (stripped), so a model can speak the user's own taxonomy."""
    return lexicon.code_of(raw) or raw.strip()


def _read_rows(path: Path, columns: Sequence[str]) -> Iterator[Mapping[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        csv.field_size_limit(2**31 - 1)
        with open(path, encoding="utf-8", newline="") as f:
            yield from csv.DictReader(f)
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise TrainError(f"{path}:{number}: expected a JSON object per line")
                    yield row
    elif suffix == ".parquet":
        import pyarrow.parquet as pq  # only parquet input needs it

        available = set(pq.read_schema(path).names)
        yield from pq.read_table(path, columns=[c for c in columns if c in available]).to_pylist()
    else:
        raise TrainError(f"unsupported data file {path.name}: use .csv, .jsonl or .parquet")


def load_table(
    path: Path | str,
    lexicon: Lexicon,
    text_col: str = "text",
    label_col: str = "label",
    title_col: str = "title",
) -> list[Example]:
    """Labelled rows of a csv, jsonl or parquet file; rows with an empty text or label are
    skipped. The title column is optional."""
    path = Path(path)
    examples = []
    for number, row in enumerate(_read_rows(path, (text_col, label_col, title_col)), 1):
        for col in (text_col, label_col):
            if col not in row:
                raise TrainError(f"{path.name} row {number} has no column {col!r}: {sorted(row)}")
        text, label = str(row[text_col] or ""), str(row[label_col] or "")
        title = str(row.get(title_col) or "")
        if (text.strip() or title.strip()) and label.strip():
            key = _text_key(title, text)
            examples.append(Example(title, text, label_code(label, lexicon), "user", "", key))
    return examples


def load_output_weak_labels(output_dir: Path | str, lexicon: Lexicon) -> list[Example]:
    """Articles of a newsbeam output directory labelled by their URL desk (/sport/ -> sport).

    Only articles whose URL names a desk from the lexicon are kept, each URL once. These are
    weak labels: a desk is a publisher's filing decision, not a judgement of the text.
    """
    import pyarrow.parquet as pq

    files = sorted(Path(output_dir).glob("articles/date=*/*.parquet"))
    if not files:
        raise TrainError(f"no articles/date=*/*.parquet under {output_dir}")
    seen: set[str] = set()
    examples = []
    for path in files:
        for row in pq.read_table(path, columns=["url", "title", "text"]).to_pylist():
            url = row["url"] or ""
            hint = url_hint(url, lexicon)
            if hint is None or url in seen or not (row["text"] or row["title"]):
                continue
            seen.add(url)
            examples.append(
                Example(row["title"] or "", row["text"] or "", hint[0], "output", "", url)
            )
    return examples


# --- training --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Choices measured on a development split of the training rows (docs/MODEL_CARD.md)."""

    # The title read twice: +0.5 points on AG News in 5-fold cross-validation of the training
    # rows, other sets unchanged (docs/MODEL_CARD.md).
    spec: FeatureSpec = dataclasses.field(default_factory=lambda: FeatureSpec(title_repeat=2))
    c: float = 1.0  # LinearSVC regularization
    # Long texts also train as short windows: feed items are short, and the few German
    # articles yield several examples each.
    chunk_chars: int = 300
    chunk_weight: float = 0.4
    calibration_folds: int = 3
    seed: int = 0
    # Each class's rows together weigh as much as the average class's: without it the classes
    # that most data sets share (science and technology, sport, economy) soak up what the
    # smaller ones would have taken.
    balance_classes: bool = False


def chunk_example(example: Example, size: int) -> list[Example]:
    """Windows of about ``size`` characters (cut at spaces) of a text at least twice as long;
    a tail shorter than half a window is left out."""
    text = example.text
    if size <= 0 or len(text) < 2 * size:
        return []
    chunks = []
    start = 0
    while start < len(text) - size // 2:
        end = text.rfind(" ", start, start + size)
        end = start + size if end <= start else end
        chunks.append(dataclasses.replace(example, title="", text=text[start:end]))
        start = end + 1
    return chunks


def _fold(key: str, folds: int) -> int:
    return int(hashlib.sha256(f"fold\0{key}".encode()).hexdigest()[:8], 16) % folds


def _matrix(examples: Sequence[Example], spec: FeatureSpec, idf: np.ndarray | None):
    from scipy import sparse

    rows = [vectorize(e.title, e.text, spec, idf) for e in examples]
    indptr = np.cumsum([0] + [len(idx) for idx, _ in rows])
    indices = np.concatenate([idx for idx, _ in rows]) if rows else np.zeros(0, np.int32)
    data = np.concatenate([val for _, val in rows]) if rows else np.zeros(0, np.float32)
    shape = (len(examples), 1 << spec.buckets_log2)
    matrix = sparse.csr_matrix((data, indices, indptr), shape=shape)
    matrix.sum_duplicates()
    return matrix


def _fit(matrix, labels: np.ndarray, weights: np.ndarray, classes: Sequence[str], s: TrainSettings):
    """(W, b) of a one-vs-rest LinearSVC with one column per class, also for two classes."""
    from sklearn.svm import LinearSVC

    svc = LinearSVC(C=s.c, dual=True, max_iter=10_000, random_state=s.seed)
    svc.fit(matrix, labels, sample_weight=weights)
    if list(svc.classes_) != list(classes):
        raise TrainError("every class needs examples in every training fold")
    coef, intercept = svc.coef_.astype(np.float64), svc.intercept_.astype(np.float64)
    if len(classes) == 2:  # sklearn keeps one column for the second class
        coef, intercept = np.vstack([-coef, coef]) / 2, np.concatenate([-intercept, intercept]) / 2
    return coef.T, intercept


def _softmax_nll(logits: np.ndarray, gold: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(len(gold)), gold]))


def _temperature(rows, labels, weights, keys, classes, s: TrainSettings) -> float | None:
    """Softmax temperature that makes out-of-fold scores honest probabilities, or None when
    the data are too few to split into folds that all hold every class."""
    if s.calibration_folds < 2:
        return None
    folds = np.array([_fold(k, s.calibration_folds) for k in keys])
    logits = np.zeros((rows.shape[0], len(classes)))
    for fold in range(s.calibration_folds):
        test = folds == fold
        if test.all() or len(set(labels[~test])) < len(classes):
            return None
        w, b = _fit(rows[~test], labels[~test], weights[~test], classes, s)
        logits[test] = rows[test] @ w + b
    gold = np.searchsorted(np.array(classes), labels)
    grid = np.geomspace(0.02, 5.0, 120)
    return float(grid[int(np.argmin([_softmax_nll(logits / t, gold) for t in grid]))])


def _quantize(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and one scale per class: a quarter of float32's size, same predictions."""
    scales = np.abs(weights).max(axis=0) / 127.0
    scales[scales == 0] = 1.0
    quantized = np.clip(np.rint(weights / scales), -127, 127).astype(np.int8)
    return quantized, scales.astype(np.float32)


def train(
    examples: Sequence[Example],
    label_names: Mapping[str, str] | None = None,
    settings: TrainSettings = TrainSettings(),
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Fit a topic model; returns (config, arrays) as :func:`save_model` writes them.

    Held-out rows are refused: split first with :func:`is_held_out`.
    """
    if any(e.held_out for e in examples):
        raise TrainError("held-out rows must not reach training")
    classes = sorted({e.label for e in examples})
    if len(classes) < 2:
        raise TrainError(f"need at least two labels to train, got {classes}")
    chunks = [c for e in examples for c in chunk_example(e, settings.chunk_chars)]
    rows = [*examples, *chunks]
    labels = np.array([e.label for e in rows])
    weights = np.array([1.0] * len(examples) + [settings.chunk_weight] * len(chunks))
    if settings.balance_classes:
        totals = {c: float(weights[labels == c].sum()) for c in classes}
        mean = sum(totals.values()) / len(totals)
        weights = weights * np.array([mean / totals[c] for c in labels])
    spec = settings.spec
    counts = _matrix(rows, spec, None)
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    # Rounded to float16 here because that is how the file stores it.
    idf = (np.log((1 + len(rows)) / (1 + df)) + 1).astype(np.float16)
    matrix = _matrix(rows, spec, idf.astype(np.float32))
    temperature = _temperature(matrix, labels, weights, [e.key for e in rows], classes, settings)
    w, b = _fit(matrix, labels, weights, classes, settings)
    scale = 1.0 / (temperature or 1.0)
    quantized, scales = _quantize(w * scale)
    names = label_names or {}
    config = {
        "format": FORMAT_VERSION,
        "classes": classes,
        "labels": [names.get(c, c) for c in classes],
        "features": spec.to_dict(),
        "training": {
            "algorithm": "LinearSVC one-vs-rest, softmax over decision values / temperature",
            "c": settings.c,
            "chunk_chars": settings.chunk_chars,
            "chunk_weight": settings.chunk_weight,
            "balance_classes": settings.balance_classes,
            "temperature": temperature,
            "rows": dict(
                sorted(collections.Counter(f"{e.dataset}:{e.label}" for e in examples).items())
            ),
            "chunks": len(chunks),
        },
    }
    arrays = {
        "weights": quantized,
        "scales": scales,
        "bias": (b * scale).astype(np.float32),
        "idf": idf,
    }
    return config, arrays


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """An .npz that np.load reads, with fixed zip timestamps so equal arrays give equal bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def save_model(
    config: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    out_dir: Path | str,
    seeds_text: str | None = None,
):
    """Write ``weights.npz`` and ``config.json`` into ``out_dir`` (created if needed), and
    ``seeds.yaml`` for a model with a stack (its second layer reads the seed words)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if "stack_weights" in arrays:
        if seeds_text is None:
            raise TrainError("a stacked model needs its seed words")
        (out / SEEDS_FILE).write_text(seeds_text, encoding="utf-8")
    else:
        (out / SEEDS_FILE).unlink(missing_ok=True)
    _write_npz(out / WEIGHTS_FILE, arrays)
    text = json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    (out / CONFIG_FILE).write_text(text, encoding="utf-8")
    return out


# --- the default model's data and its second layer ------------------------------------------

# Data sets whose rows the weak labeller reads; SIB-200's rows are single encyclopaedic
# sentences filed by theme, too short for seed counts to overrule their label.
WEAK_LABEL_DATASETS = ("10kgnad", "agnews", "bbc", "masakhanews")
# Data sets whose licences allow commercial use of a model trained on them (MODEL_CARD.md):
# MasakhaNEWS (AFL-3.0), SIB-200 (CC BY-SA 4.0), the IPTC definitions (CC BY 4.0) and
# newsbeam's own seed words.
COMMERCIAL_DATASETS = ("masakhanews", "sib200", "iptc", "seeds")


def default_examples(
    topics_root: Path | str, seeds: Any, datasets: Sequence[str] | None = None
) -> list[Example]:
    """Training rows of the default model: the shared data sets' non-held-out rows, broad-desk
    rows relabelled by :func:`transforms.enrichment.topic_seeds.weak_label`, plus seed documents and the
    IPTC definitions, so that all 17 top-level topics have examples.

    ``datasets`` keeps only the named sources (e.g. :data:`COMMERCIAL_DATASETS`).
    """
    from transforms.enrichment.topic_seeds import (
        iptc_documents,
        load_iptc_mapping,
        seed_documents,
        weak_label,
    )

    root = Path(topics_root)
    rows = load_shared_topics(root, keep_unmapped=True)
    expressible: dict[str, set[str]] = collections.defaultdict(set)
    for e in rows:
        if e.label:
            expressible[e.dataset].add(e.label)
    examples = []
    for e in rows:
        if e.held_out or (datasets is not None and e.dataset not in datasets):
            continue
        label: str | None = e.label or None
        if e.dataset in WEAK_LABEL_DATASETS:
            label = weak_label(seeds, e.title, e.text, label, expressible[e.dataset])
        if label:
            examples.append(dataclasses.replace(e, label=label))
    if datasets is None or "seeds" in datasets:
        for n, (code, language, text) in enumerate(seed_documents(seeds)):
            examples.append(Example("", text, code, "seeds", language, f"seeds/{n}"))
    if datasets is None or "iptc" in datasets:
        mapping = load_iptc_mapping(root / "iptc_mediatopic" / "iptc_mapping.json")
        for n, (code, text) in enumerate(iptc_documents(mapping)):
            examples.append(Example("", text, code, "iptc", "en", f"iptc/{n}"))
    return examples


def balance_weights(gold: Sequence[str], power: float) -> dict[str, float]:
    """Per gold topic, (mean count / its count) ** power: 0 weighs every row alike, 1 every
    topic alike."""
    counts = collections.Counter(gold)
    mean = sum(counts.values()) / len(counts)
    return {g: (mean / n) ** power for g, n in counts.items()}


def fit_stack(
    features: np.ndarray,
    gold: Sequence[str],
    classes: Sequence[str],
    c: float = 0.3,
    class_weight: Mapping[str, float] | None = None,
    bias_penalty: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(weights, bias) of the second layer: multinomial logistic regression from
    ``TopicModel.stacked_features`` rows ``[decision values, seed hits]`` to the gold topic,
    one row per class of the model.

    Each class's logit is ``a · its decision value + s · its seed hits`` (``a`` and ``s``
    shared by all classes, not penalised) plus a correction of its own over all inputs and a
    bias (both L2-penalised, ``1 / c`` strong; the bias ``bias_penalty`` times that). The
    shared part is learned from every class, so a topic the development data has one or no
    gold rows of (weather, religion) still follows its own first-layer decision and seed words
    instead of being pushed out: with an unpenalised free row per class it was never chosen
    on an outlet it had not seen. Minimises ``c · Σ wᵢ · cross-entropyᵢ + ½ ‖penalised‖²``.
    """
    from scipy.optimize import minimize

    x = np.asarray(features, dtype=np.float64)
    n, m = len(classes), x.shape[1]
    if m != 2 * n:
        raise ValueError(f"stack features have {m} columns, expected {2 * n}")
    index = {code: i for i, code in enumerate(classes)}
    y = np.array([index[g] for g in gold])
    rows = np.ones(len(y)) if class_weight is None else np.array([class_weight.get(g, 1.0) for g in gold])
    rows = rows * c
    onehot = np.zeros((len(y), n))
    onehot[np.arange(len(y)), y] = 1.0
    own_logit, own_seed = x[:, :n], x[:, n:]

    def unpack(theta: np.ndarray):
        return theta[0], theta[1], theta[2 : 2 + n * m].reshape(n, m), theta[2 + n * m :]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, s, w, b = unpack(theta)
        z = a * own_logit + s * own_seed + x @ w.T + b
        z -= z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -float(np.sum(rows * log_p[np.arange(len(y)), y]))
        loss += 0.5 * float(np.sum(w * w)) + 0.5 * bias_penalty * float(np.sum(b * b))
        g = (np.exp(log_p) - onehot) * rows[:, None]
        grad = np.concatenate((
            [np.sum(g * own_logit), np.sum(g * own_seed)],
            (g.T @ x + w).ravel(),
            g.sum(axis=0) + bias_penalty * b,
        ))
        return loss, grad

    start = np.zeros(2 + n * m + n)
    start[:2] = 1.0
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 5000})
    a, s, w, b = unpack(result.x)
    weights = w.copy()
    weights[np.arange(n), np.arange(n)] += a
    weights[np.arange(n), n + np.arange(n)] += s
    return weights.astype(np.float32), b.astype(np.float32)


def with_stack(
    config: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    weights: np.ndarray,
    bias: np.ndarray,
    languages: Sequence[str],
    summary: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The model files of a first layer plus its fitted stack and the languages it serves."""
    config = dict(config)
    config["languages"] = list(languages)
    config["training"] = {**config.get("training", {}), "stack": dict(summary)}
    return config, {**arrays, "stack_weights": weights, "stack_bias": bias}
