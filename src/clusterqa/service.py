"""What the commands share: opening an up-to-date index and answering a question."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ClusterQAError, IndexMissingError, LockBusyError, SettingsMismatchError, UsageError
from .index.protocol import Generation, open_store
from .models import AskResult, Retrieval

if TYPE_CHECKING:
    from .answering.search import Searcher

MAX_QUESTION_CHARS = 2000
Warn = Callable[[str], None]


def check_question(question: str) -> str:
    question = question.strip()
    if not question:
        raise UsageError('the question is empty; ask something, e.g. clusterqa ask "Which clusters won in 2020?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(
            f"the question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,} "
            "(the model reads only its first 256 word pieces)"
        )
    if not any(c.isalnum() for c in question):
        raise UsageError(f"the question {question[:40]!r} has no words to search for; ask with words")
    return question


def open_index(settings: Settings, refresh: bool, warn: Warn, progress=None) -> Searcher:  # noqa: ANN001
    """The live generation, built if missing and, with `refresh`, brought up to date first."""
    from .embedding.encoder import load_in_background
    from .embedding.encoder_store import encoder_for

    store = open_store(settings)
    try:
        generation = store.current()
    except IndexMissingError:
        from .reading.ignore import scan_documents

        scan_documents(settings)  # a missing documents folder is reported before any index folder is made
        warn(f"no index in {store.location} yet: building it from {settings.seeds}")
        generation = _rebuild(settings, warn, progress) or store.current()
        encoder = load_in_background(encoder_for(generation.manifest))
    else:
        # Loading the encoder takes most of a cold question's time and depends only on the
        # model: start it first, and check settings and documents meanwhile.
        encoder = load_in_background(encoder_for(generation.manifest))
        _check_settings(generation, settings)
        if refresh:
            generation = bring_up_to_date(settings, generation, warn, progress)
    from .answering.search import Searcher

    return Searcher(generation, encoder)


def current_searcher(searcher: Searcher, settings: Settings, warn: Warn) -> Searcher:
    """The searcher to answer the next question with, for a process that keeps one open (shell, MCP server).

    Reopened when the documents changed, with the rules of `ask` (see `bring_up_to_date`). While an
    update holds the index lock (a background one started here, or another process's), questions are
    answered from the open index, which is reopened once the update has published a new generation.
    """
    from .index.freshness import is_stale

    store = open_store(settings)
    if store.is_locked():
        if store.current().name == searcher.generation.name:
            return searcher
        refresh = False
    elif is_stale(searcher.generation, settings):
        refresh = True
    else:
        return searcher
    reopened = open_index(settings, refresh=refresh, warn=warn)
    searcher.close()  # only once the new one is open: a failed reopen leaves the old one serving
    return reopened


def _check_settings(generation: Generation, settings: Settings) -> None:
    from .index.freshness import check_documents_folder, settings_change

    check_documents_folder(generation, settings)
    reason = settings_change(generation, settings)
    if reason:
        built = generation.manifest.get("model", {}).get("name") if generation else None
        # Asking without the model the index was built with is the common slip (--model multilingual-e5-small).
        hint = f"pass --model {built} to ask it as built, or " if built and built != settings.model else ""
        raise SettingsMismatchError(f"{reason}; {hint}run `clusterqa index` to rebuild the index with the new settings")


def _rebuild(settings: Settings, warn: Warn, progress) -> Generation | None:  # noqa: ANN001
    from .index.indexer import build

    report = build(settings, progress=progress, warn=warn)
    return open_store(settings).current() if report.published else None


def bring_up_to_date(settings: Settings, generation: Generation, warn: Warn, progress=None) -> Generation:  # noqa: ANN001
    """The generation to answer from: updated first when the change is small, else as it is while
    a background process updates it (a question never waits minutes)."""
    from .index.background import INLINE_UPDATE_BYTES, describe_size, start_update
    from .index.freshness import stale_bytes

    pending = stale_bytes(generation, settings)
    if pending is None:
        return generation
    if pending <= INLINE_UPDATE_BYTES:
        return _refresh(settings, generation, warn, progress)
    if open_store(settings).is_locked():
        warn("documents changed; another process is updating the index: answering from the index as it is")
        return generation
    pid = start_update(settings)
    warn(
        f"documents changed ({describe_size(pending)} to read): answering from the index as it is; "
        f"updating it in the background (pid {pid}, log {settings.index / 'update.log'})"
    )
    return generation


def _refresh(settings: Settings, generation: Generation, warn: Warn, progress) -> Generation:  # noqa: ANN001
    from .index.indexer import build

    warn("documents changed since the index was built: updating it first (--no-refresh skips this)")
    try:
        report = build(settings, progress=progress, warn=warn, lock_wait=0)
    except LockBusyError:
        warn("another process is updating the index: answering from the index as it is")
        return generation
    except ClusterQAError as exc:
        warn(f"could not update the index ({exc}): answering from the index as it is")
        return generation
    return open_store(settings).current() if report.published else generation


def ask(searcher: Searcher, question: str, top_k: int, retrieval: Retrieval = Retrieval()) -> AskResult:
    """The top_k passages and the answer, chosen from a fixed set of top passages whatever top_k is."""
    from .answering.answer import across_scripts_model, answer_model, pick_answer

    question = check_question(question)
    if top_k < 1:
        raise UsageError(f"--top-k must be at least 1, not {top_k}")
    model = answer_model()
    hits, query = searcher.retrieve(question, max(top_k, model.passages), retrieval)
    catalog = searcher.catalog
    tokens = searcher.token_vectors(model.rerank_encoder)
    across = across_scripts_model() if searcher.multilingual else None
    if across is not None and across.encoder != searcher.model:
        across = None
    pick = pick_answer(
        question, query, hits, catalog.sentences, catalog.document_frequencies, model, searcher.scales[0], tokens, across
    )
    return AskResult(
        question=question,
        hits=pick.hits[:top_k],
        answer=pick.best if pick.confident else None,
        confident=pick.confident,
        confidence=pick.confidence,
        documents=searcher.documents,
        reason=pick.reason,
        best=pick.best,
    )
