"""A fast static embedding for the catalogue, distilled offline from the bundled MiniLM (the model2vec recipe).

Every token of MiniLM's vocabulary is run through MiniLM once, alone ("[CLS] token [SEP]", mean-pooled: the
embedding MiniLM gives that one-token text); the vectors are reduced by PCA and weighted by a Zipf estimate of
how informative the token is. A release document is then the normalised mean of its tokens' rows: tokenising
plus a table look-up, tens of thousands of documents a second on a CPU, where MiniLM does about 200.

The distilled table ships in ``models/static-minilm.npz`` (``crate catalogue distill`` rebuilds it from the
MiniLM package, offline). It embeds into its own space (not MiniLM's): the catalogue index and every query or
probe searched against it use this one; the per-user model keeps MiniLM (see benchmarks/README.md for what each
costs).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from core.config import PROJECT_ROOT, get_config, resolve_path
from core.domain.release import Release
from core.model.embeddings import model_dir, release_document

log = logging.getLogger(__name__)

DEFAULT_PATH = PROJECT_ROOT / "models" / "static-minilm.npz"
STATIC_DIM = 256
_lock = threading.Lock()
_default: "StaticEmbedder | None" = None


def _tokenizer():
    from tokenizers import Tokenizer  # ships with sentence-transformers (transformers' fast tokenizers)

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def distill(out: Path = DEFAULT_PATH, dim: int = STATIC_DIM, batch: int = 512) -> Path:
    """Distil the static table from MiniLM (about a minute on 2 cores) and save it to ``out`` (float16)."""
    import torch
    from transformers import AutoModel

    path = model_dir()
    tok = _tokenizer()
    vocab = tok.get_vocab()
    n = max(vocab.values()) + 1
    model = AutoModel.from_pretrained(str(path)).eval()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    skip = {i for t, i in vocab.items() if t.startswith("[") and t.endswith("]")}   # [PAD], [unused12], …
    out_vecs = np.zeros((n, model.config.hidden_size), dtype=np.float32)
    ids = [i for i in range(n) if i not in skip]
    with torch.inference_mode():
        for s in range(0, len(ids), batch):
            part = ids[s:s + batch]
            x = torch.tensor([[cls_id, i, sep_id] for i in part])
            h = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state
            out_vecs[part] = h.mean(dim=1).numpy()
    keep = np.array(ids)
    mean = out_vecs[keep].mean(axis=0)
    centred = out_vecs[keep] - mean
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    table = np.zeros((n, dim), dtype=np.float32)
    table[keep] = centred @ vt[:dim].T
    # Zipf weighting: BERT's word pieces are (roughly) in frequency order past the special block, so a token's
    # rank estimates its frequency; frequent pieces ("the", "-", "s") weigh less (model2vec's SIF weighting)
    rank = np.arange(n, dtype=np.float64) + 1.0
    p = 1.0 / (rank * np.log(n))
    weights = (1e-3 / (1e-3 + p)).astype(np.float32)
    table *= weights[:, None]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, table=table.astype(np.float16))
    log.info("distilled a %d × %d static table into %s", n, dim, out)
    return out


#: The same closeness in both spaces: MiniLM's cosine (left) and the static embedding's at the same quantile of
#: nearest-neighbour similarity between 300 and 1,700 bundled catalogue releases (right). The static space packs
#: records closer together, so "close to a record you own" needs ~0.80 there where MiniLM says 0.60.
_MINILM = np.array([0.5, 0.6, 0.7, 0.8, 1.0])
_STATIC = np.array([0.693, 0.803, 0.876, 0.914, 1.0])


def static_similarity(minilm: float) -> float:
    """The static-space cosine that means as much as ``minilm`` does in MiniLM's space."""
    return float(np.interp(minilm, _MINILM, _STATIC))


class StaticEmbedder:
    """Release documents (or any text) → normalised ``STATIC_DIM`` vectors, thread-safe, no model to load."""

    def __init__(self, path: Path = DEFAULT_PATH) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no static embedding table (run `crate catalogue distill`)")
        with np.load(path) as z:
            self.table = z["table"].astype(np.float32)
        self.dim = int(self.table.shape[1])
        self._tok = _tokenizer()
        self._special = {self._tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")}

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encs = self._tok.encode_batch([t.lower() for t in texts])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, enc in enumerate(encs):
            ids = [t for t in enc.ids if t not in self._special]
            if ids:
                out[i] = self.table[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)

    def embed_releases(self, releases: list[Release]) -> np.ndarray:
        return self.embed_texts([release_document(r) for r in releases])

    def __call__(self, releases: list[Release]) -> np.ndarray:
        return self.embed_releases(releases)

    @staticmethod
    def similar_at(minilm: float) -> float:
        return static_similarity(minilm)


def static_embedder(path: Path | None = None) -> StaticEmbedder:
    """The shared embedder over the shipped table (loaded once per process)."""
    global _default
    with _lock:
        if path is not None:
            return StaticEmbedder(path)
        if _default is None:
            if DEFAULT_PATH.is_file():
                _default = StaticEmbedder()
            else:   # a checkout without the shipped table: distil it once into the cache folder (about 20 s)
                own = resolve_path(get_config().paths.cache_dir) / "static-minilm.npz"
                if not own.is_file():
                    log.warning("%s is missing: distilling the static embedding into %s", DEFAULT_PATH, own)
                    distill(own)
                _default = StaticEmbedder(own)
        return _default
