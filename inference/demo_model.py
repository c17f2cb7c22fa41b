"""Build a tiny demo MLX language model that writes Python-looking code, offline, in seconds.

No gradient descent: the model is a token-bigram table, factored and dressed up as a one-layer
qwen2 so that `mlx_lm.load` loads it and `stream_generate` / `batch_generate` run it unchanged.

Algorithm (build_demo_model):

1. Corpus: list the standard library's own ``.py`` sources (no tests, encodings tables or
   pydoc topics), shuffle the sorted list with ``seed`` and take files until ``corpus_bytes``;
   split each file into top-level ``def`` / ``class`` chunks ("documents").
2. Tokenizer: train a byte-level BPE of ``vocab_size`` tokens (including the special tokens
   ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``) on the chunks, with Qwen2's NFC
   normalizer and pre-tokenizer (transformers 5 rebuilds exactly those for any qwen2 model).
3. Counts: tokenize every chunk, end it with ``<|im_end|>`` (so sampling sometimes stops after
   a function), and count token bigrams C[prev, next].
4. Log-probabilities: smooth with Witten-Bell backoff to the unigram distribution,
   L = log P(next | prev); subtract each row's mean (softmax ignores it) and then each
   column's mean, which is kept as an exact per-token bias.
5. Factor: a seeded randomized SVD of the residual, weighted by sqrt(row count) and
   sqrt(unigram count) so the frequent bigrams are fitted best, truncated to ``rank``:
   residual ~= A @ B.T.
6. Greedy loops: greedy decoding of a bigram table ends in a cycle; while some cycle has no
   letters at all (", 1, 1, 1"), move one of its rows of A so it prefers a token with letters.
7. Pack into a one-layer qwen2 with hidden size rank + 2 (rounded up to a multiple of 16):
   embedding row i = [A_i, 1, pad_i, 0...], lm_head row j = [B_j, bias_j, 0, 0...].
   ``pad_i`` gives every embedding row the same norm R, so each RMSNorm divides every token by
   the same R / sqrt(hidden); the final norm's weight is R / sqrt(hidden) to undo that.
   Attention ``o_proj`` and MLP ``down_proj`` are zero, so the block leaves the residual
   stream alone and logits = the bigram log-probs (plus a constant per row). Stored as
   bfloat16 (the fastest dtype for mlx's CPU matmul here).
8. Write ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json`` (ChatML
   template), ``generation_config.json``, ``README.md`` and, last, ``config.json``
   (inference/demo_model_files.py).

The same seed, arguments and Python standard library give byte-identical files. mlx is imported
only inside the functions that need it (Celery workers must not import mlx before forking).
"""

from __future__ import annotations

import re
import sysconfig
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.demo_model_files import IM_END, SPECIAL_TOKENS, block_weights, write_model

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# Small on purpose: on a CPU the per-sequence cost of a step (lm_head, logsumexp, sampling; top-p
# sorts the whole vocab) grows with the vocab, and it must stay well below the fixed cost of a
# step for batching to pay off. 2048 tokens read better but batch 8 gains only ~2.5x with top-p.
DEFAULT_VOCAB_SIZE = 1024
DEFAULT_RANK = 30  # hidden size 32
DEFAULT_CORPUS_BYTES = 5_000_000
MAX_FILE_BYTES = 150_000
EXCLUDED_DIRS = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idle_test",
        "encodings",
        "pydoc_data",
        "lib2to3",
        "ensurepip",
        "turtledemo",
        "__pycache__",
    }
)
# transformers 5 loads any model_type "qwen2" tokenizer as Qwen2Tokenizer, which rebuilds the
# normalizer and pre-tokenizer as below; training with the same ones keeps tokenization identical
# whichever class loads tokenizer.json.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LETTER = re.compile(r"[A-Za-z]")
MAX_CYCLE_FIXES = 100
CHUNK_BOUNDARY = re.compile(r"\n(?=(?:def |class |async def |@))")

# -- 1. corpus ------------------------------------------------------------------------------


def stdlib_sources(root: Path | None = None) -> list[Path]:
    """The standard library's .py files outside EXCLUDED_DIRS, sorted by relative path."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files = [
        path
        for path in root.rglob("*.py")
        if not EXCLUDED_DIRS.intersection(path.relative_to(root).parts[:-1])
    ]
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def read_source(path: Path) -> str | None:
    """The file's text, or None if it is too large, not UTF-8 or unreadable."""
    try:
        data = path.read_bytes()
        if len(data) > MAX_FILE_BYTES:
            return None
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def select_corpus(files: list[Path], seed: int, corpus_bytes: int) -> list[str]:
    """Texts of a seeded random subset of `files`, about `corpus_bytes` in all, in path order."""
    order = np.random.default_rng(seed).permutation(len(files))
    chosen: dict[int, str] = {}
    total = 0
    for index in order:
        text = read_source(files[index])
        if text is None or not text.strip():
            continue
        chosen[int(index)] = text
        total += len(text.encode("utf-8"))
        if total >= corpus_bytes:
            break
    return [chosen[index] for index in sorted(chosen)]


def split_chunks(text: str) -> list[str]:
    """Split a module at top-level def/class/decorator lines; drop blank pieces."""
    return [chunk for chunk in CHUNK_BOUNDARY.split(text) if chunk.strip()]


def corpus_documents(seed: int, corpus_bytes: int) -> list[str]:
    """Step 1: the chunks of the selected standard-library sources."""
    texts = select_corpus(stdlib_sources(), seed, corpus_bytes)
    return [chunk for text in texts for chunk in split_chunks(text)]


# -- 2. tokenizer ---------------------------------------------------------------------------


def train_tokenizer(documents: Iterable[str], vocab_size: int) -> Tokenizer:
    """Step 2: a byte-level BPE tokenizer with the ChatML special tokens (ids 0, 1, 2)."""
    # lazy: only a build trains a tokenizer; the workers and the web import this module freely
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(documents, trainer)
    return tokenizer


def encode_documents(tokenizer: Tokenizer, documents: list[str]) -> np.ndarray:
    """Step 3a: all documents' token ids in order, each document followed by <|im_end|>."""
    end = tokenizer.token_to_id(IM_END)
    pieces = [
        np.append(np.asarray(e.ids, dtype=np.int64), end) for e in tokenizer.encode_batch(documents)
    ]
    return np.concatenate(pieces)


# -- 3-5. statistics ------------------------------------------------------------------------


def bigram_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Step 3b: C[prev, next], the number of times token `next` follows token `prev`."""
    flat = np.bincount(ids[:-1] * vocab_size + ids[1:], minlength=vocab_size * vocab_size)
    return flat.reshape(vocab_size, vocab_size).astype(np.float32)


def smoothed_log_probs(counts: np.ndarray) -> np.ndarray:
    """Step 4a: log P(next | prev), Witten-Bell interpolated with an add-1/2 unigram."""
    unigram = counts.sum(axis=0) + 0.5
    unigram /= unigram.sum()
    distinct = np.maximum((counts > 0).sum(axis=1), 1).astype(np.float32)
    probs = counts + distinct[:, None] * unigram[None, :]
    probs /= (counts.sum(axis=1) + distinct)[:, None]
    return np.log(probs, out=probs)


def centre(log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 4b: (residual, column bias) with log_probs = residual + bias + a constant per row."""
    residual = log_probs - log_probs.mean(axis=1, keepdims=True)
    bias = residual.mean(axis=0)
    residual -= bias[None, :]
    return residual, bias


def randomized_svd(
    matrix: np.ndarray, rank: int, seed: int, oversample: int = 16, power_iterations: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truncated SVD (Halko et al.) with a seeded test matrix; signs fixed for determinism."""
    rng = np.random.default_rng(seed)
    probe = rng.standard_normal((matrix.shape[1], rank + oversample)).astype(matrix.dtype)
    basis, _ = np.linalg.qr(matrix @ probe)
    for _ in range(power_iterations):
        basis, _ = np.linalg.qr(matrix.T @ basis)
        basis, _ = np.linalg.qr(matrix @ basis)
    u_small, singular, vt = np.linalg.svd(basis.T @ matrix, full_matrices=False)
    u = (basis @ u_small)[:, :rank]
    vt = vt[:rank]
    signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(rank)])
    signs[signs == 0] = 1
    return u * signs, singular[:rank], vt * signs[:, None]


def single_threaded_blas() -> AbstractContextManager[Any]:
    """Limit OpenBLAS to one thread if threadpoolctl is installed: on a busy 2-core machine its
    threads contend, and the SVD takes seconds instead of a few hundredths of one."""
    try:
        from threadpoolctl import threadpool_limits  # lazy: optional, absent on some hosts
    except ImportError:
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def factorize(
    residual: np.ndarray, counts: np.ndarray, rank: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Step 5: A, B with residual ~= A @ B.T, fitted best where the corpus has most bigrams."""
    row_weight = np.sqrt(counts.sum(axis=1) + 1.0)
    col_weight = np.sqrt(counts.sum(axis=0) + 0.5)
    col_weight /= col_weight.mean()
    weighted = residual * row_weight[:, None]
    weighted *= col_weight[None, :]
    u, singular, vt = randomized_svd(weighted, rank, seed)
    root = np.sqrt(singular)
    return u * root / row_weight[:, None], vt.T * root / col_weight[:, None]


# -- 6. greedy loops ------------------------------------------------------------------------


def token_has_letters(tokenizer: Tokenizer, vocab_size: int) -> np.ndarray:
    """Whether each token's text contains an ASCII letter (special tokens do not)."""
    return np.array([bool(LETTER.search(tokenizer.decode([i]))) for i in range(vocab_size)])


def letterless_cycle(successors: np.ndarray, has_letters: np.ndarray) -> list[int] | None:
    """A cycle of the successor graph (token -> greedy next token) with no letters, or None."""
    state = np.zeros(len(successors), dtype=np.int8)  # 0 unseen, 1 on the current path, 2 done
    for start in range(len(successors)):
        path, token = [], start
        while state[token] == 0:
            state[token] = 1
            path.append(token)
            token = int(successors[token])
        if state[token] == 1:
            cycle = path[path.index(token) :]
            if not has_letters[cycle].any():
                return cycle
        state[path] = 2
    return None


def break_letterless_cycles(
    a: np.ndarray, b: np.ndarray, bias: np.ndarray, has_letters: np.ndarray, margin: float = 0.5
) -> np.ndarray:
    """Step 6: nudge A's rows until greedy decoding cannot loop on letterless tokens.

    In each letterless cycle (", 1, 1, 1" or "0000"), the token whose best successor with
    letters is closest gets that successor `margin` above its current one. Few rows change.
    """
    a = a.copy()
    for _ in range(MAX_CYCLE_FIXES):
        logits = a @ b.T + bias
        cycle = letterless_cycle(logits.argmax(axis=1), has_letters)
        if cycle is None:
            break
        rows = logits[cycle]
        current = rows.argmax(axis=1)
        wanted = np.where(has_letters[None, :], rows, -np.inf).argmax(axis=1)
        gaps = rows.max(axis=1) - rows[np.arange(len(cycle)), wanted]
        n = int(gaps.argmin())
        direction = b[wanted[n]] - b[current[n]]
        a[cycle[n]] += (gaps[n] + margin) * direction / (direction @ direction)
    return a


# -- 7. weights -----------------------------------------------------------------------------


def hidden_size_for(rank: int) -> int:
    """rank factor dims + a bias unit + a norm pad, rounded up to a multiple of 16."""
    return -(-(rank + 2) // 16) * 16


def pack_head(a: np.ndarray, b: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    """Step 7a: embedding, lm_head and final norm so that lm_head(norm(embed[i])) = A_i.B + bias."""
    vocab, rank = a.shape
    hidden = hidden_size_for(rank)
    embed = np.zeros((vocab, hidden), dtype=np.float64)
    head = np.zeros((vocab, hidden), dtype=np.float64)
    embed[:, :rank], embed[:, rank] = a, 1.0
    head[:, :rank], head[:, rank] = b, bias
    squared = (embed**2).sum(axis=1)
    embed[:, rank + 1] = np.sqrt(squared.max() - squared)
    scale = np.sqrt(squared.max() / hidden)  # every row's RMS
    return {
        "model.embed_tokens.weight": embed,
        "lm_head.weight": head,
        "model.norm.weight": np.full(hidden, scale),
    }


def bigram_weights(
    seed: int, vocab_size: int, rank: int, corpus_bytes: int
) -> tuple[Tokenizer, dict[str, np.ndarray]]:
    """Steps 1-7: the tokenizer and the qwen2 weights (float64 numpy arrays)."""
    documents = corpus_documents(seed, corpus_bytes)
    tokenizer = train_tokenizer(documents, vocab_size)
    vocab = tokenizer.get_vocab_size()
    counts = bigram_counts(encode_documents(tokenizer, documents), vocab)
    residual, bias = centre(smoothed_log_probs(counts))
    with single_threaded_blas():
        a, b = factorize(residual, counts, rank, seed)
        del residual, counts
        a = break_letterless_cycles(a, b, bias, token_has_letters(tokenizer, vocab))
    weights = pack_head(a, b, bias)
    hidden = hidden_size_for(rank)
    weights.update(block_weights(hidden, hidden))
    return tokenizer, weights


def build_demo_model(
    out_dir: Path,
    *,
    seed: int = 0,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    rank: int = DEFAULT_RANK,
    corpus_bytes: int = DEFAULT_CORPUS_BYTES,
) -> Path:
    """Build the demo model into `out_dir` (created; our files overwritten) and return it.

    Defaults: vocab 1024, rank 30 (hidden size 32), ~5 MB of corpus; ~5 s of CPU.
    """
    if vocab_size < 256 + len(SPECIAL_TOKENS) + 1 or not 1 <= rank < vocab_size:
        raise ValueError(f"bad vocab_size={vocab_size} / rank={rank}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").unlink(missing_ok=True)  # not a complete model until rewritten
    tokenizer, weights = bigram_weights(seed, vocab_size, rank, corpus_bytes)
    write_model(out_dir, tokenizer, weights, (seed, corpus_bytes))
    return out_dir
