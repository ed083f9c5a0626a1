"""Naming a model as `from_pretrained` does: a local folder, or a Hugging Face Hub id at a revision.

A hub id is looked up the way transformers looks it up (the cache under `HF_HOME`/`HF_HUB_CACHE`,
`HF_HUB_OFFLINE`, the token from `HF_TOKEN` or a saved login) but answers at once: one request with
a short timeout tells a reachable Hub from an unreachable one, where huggingface_hub alone retries
an uncached file for about 24 s before it gives up. `locate` answers which model is meant (fast, no
weights read); `fetch` makes its files local (downloading them if need be). Kept free of torch;
huggingface_hub itself is imported only when a hub id is given.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kolang.errors import ConfigError, KolangNote, ModelError, first_line

# How long the Hub may take to answer before kolang treats it as unreachable and reads the cache
# (HF_HUB_ETAG_TIMEOUT overrides it, as it does for huggingface_hub).
REACH_TIMEOUT_S = 5.0

# What a causal LM needs from a repo, as `snapshot_download` patterns: config, tokenizer, and the weights
# transformers reads first (`model.safetensors` or its shards), never a repo's other copies such as
# Mistral's `consolidated.safetensors`. Repos without safetensors get `BIN_WEIGHTS` instead.
REPO_FILES = ("config.json", "generation_config.json", "tokenizer*", "special_tokens_map.json", "added_tokens.json",
              "chat_template.*", "vocab.*", "merges.txt", "*.tiktoken", "model*.safetensors",
              "model.safetensors.index.json")
BIN_WEIGHTS = ("pytorch_model*.bin", "pytorch_model.bin.index.json")

_SNAPSHOT = re.compile(r"(?:^|/)models--(?P<repo>[^/]+)/snapshots/(?P<commit>[0-9a-f]{40})/?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files come from: a local folder, or hub repo `repo_id` at `revision`."""

    name: str
    """The model as the user named it (for messages)."""
    folder: Path | None = None
    """The local folder holding config.json; None for a hub snapshot still to be fetched."""
    repo_id: str | None = None
    revision: str | None = None
    """The commit hash once resolved (else the branch or tag asked for)."""
    ref: str | None = None
    """The branch or tag asked for, when `revision` is the commit it resolved to on the Hub."""
    online: bool = False
    """The Hub answered, so `fetch` may download what the cache lacks."""

    def record(self) -> dict[str, str]:
        """What a NeuronSet fingerprint keeps of it: `{"id", "revision"}` or `{"path"}` (absolute)."""
        if self.repo_id is None:
            return {"path": str(Path(self.folder or self.name).absolute())}
        return {"id": self.repo_id, **({"revision": self.revision} if self.revision else {})}

    def __str__(self) -> str:
        """The folder as the user named it, or `org/name@commit`."""
        return self.name if self.repo_id is None else describe(self.record())


def describe(record: Mapping[str, Any]) -> str:
    """A source record as one short name: `org/name@1a2b3c4d5e6f` or the folder path."""
    if "id" in record:
        rev = str(record.get("revision") or "")
        return f"{record['id']}@{rev[:12]}" if rev else str(record["id"])
    return str(record.get("path", "?"))


def source_record(name_or_path: str | None, commit: str | None = None) -> dict[str, str] | None:
    """The source record of a model loaded from `name_or_path` (a transformers config's `_name_or_path`):
    a hub cache snapshot folder or a hub id gives `{"id", "revision"}`, a folder `{"path"}`; None if unnamed."""
    if not name_or_path:
        return None
    text = str(name_or_path).replace(os.sep, "/")
    m = _SNAPSHOT.search(text)
    if m:
        return {"id": m["repo"].replace("--", "/"), "revision": m["commit"]}  # the cache writes "/" as "--"
    if is_path(text):
        return {"path": str(Path(text).expanduser().absolute())}
    return {"id": text, **({"revision": commit} if commit and _COMMIT.match(commit) else {})}


def same_source(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when two source records name the same weights (a revision known on one side only matches)."""
    if "id" in a and "id" in b:
        return a["id"] == b["id"] and (not a.get("revision") or not b.get("revision") or a["revision"] == b["revision"])
    return dict(a) == dict(b)


def is_path(text: str) -> bool:
    """True when `text` names a local path rather than a hub id: it exists, is written like a path
    (`.`, `/`, `~`, more than one `/`), or the folder it would sit in exists."""
    if text.startswith((".", "/", "~")) or "\\" in text or os.path.isabs(text) or text.count("/") > 1:
        return True
    path = Path(text)
    return path.exists() or ("/" in text and path.parent.is_dir())


def locate(model: str | Path | ModelSource, revision: str | None = None, option: str = "--model") -> ModelSource:
    """Which model `model` names: a local folder (checked to hold config.json), or a hub id at `revision`
    (or `id@revision`) resolved to a commit, from the Hub if it answers, else from the cache.

    Raises `ModelError` with what to do for a missing folder, an uncached model offline, an unknown
    repo or revision, or a gated repo without access; nothing is downloaded here. When the Hub cannot
    be reached and the cache serves, a `KolangNote` warning says so.
    """
    if isinstance(model, ModelSource):
        return model
    text = str(model)
    if not text.strip():
        raise ModelError(f"{option} is empty; give a model folder or a hub id like Qwen/Qwen2.5-0.5B-Instruct")
    if is_path(text):
        if revision:
            raise ConfigError(f"--revision {revision} applies to a hub id; {option} {text} is a local folder")
        path = Path(text).expanduser()
        if not path.exists() and not text.startswith((".", "/", "~")) and text.count("/") == 1:
            raise ModelError(f"{option} {text} does not exist here, and since the folder {path.parent} does, it is read "
                             f"as a path; to name the hub model {text}, run from another folder")
        return ModelSource(text, folder=local_folder(path, option))
    if "@" in text:
        text, _, at = text.partition("@")
        if revision and revision != at:
            raise ConfigError(f"{option} {model} names revision {at} and --revision says {revision}; give one")
        revision = at or None
    return _hub(text, revision, option)


def local_folder(path: Path, option: str = "--model") -> Path:
    """`path` if it is a Hugging Face model folder (it exists, is a folder, holds config.json), else `ModelError`."""
    if path.is_file():
        raise ModelError(f"{option} {path} is a file; give the model's folder (the one holding config.json)")
    if not path.exists():
        raise ModelError(f"{option} {path} does not exist (give a model folder, or a hub id like "
                         "Qwen/Qwen2.5-0.5B-Instruct)")
    if not (path / "config.json").is_file():
        raise ModelError(f"{option} {path} has no config.json; give a Hugging Face model folder")
    return path


def _hub(repo_id: str, revision: str | None, option: str) -> ModelSource:
    # deferred: huggingface_hub costs 0.3-0.8 s to import, paid only when a hub id is named
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ModelError(f"{option} {repo_id} is neither a local folder nor a hub id (org/name)") from None
    name = f"{repo_id}@{revision}" if revision else repo_id
    if constants.HF_HUB_OFFLINE:
        return _cached(repo_id, revision, option, why=None)
    timeout = float(os.environ.get("HF_HUB_ETAG_TIMEOUT") or REACH_TIMEOUT_S)
    try:
        meta = get_hf_file_metadata(hf_hub_url(repo_id, "config.json", revision=revision), timeout=timeout)
    except GatedRepoError:
        raise ModelError(f"{option} {repo_id} is gated and " + _access(repo_id)) from None
    except RevisionNotFoundError:
        raise ModelError(f"{option} {repo_id} has no revision '{revision}' (give a branch, tag or commit hash)") \
            from None
    except RepositoryNotFoundError:
        raise ModelError(f"{option} {repo_id}: no such folder here, and the Hub has no model {repo_id} that you can "
                         "see (check the id; if it is private, " + _access(repo_id, private=True) + ")") from None
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            raise ModelError(f"{option} {repo_id}: the Hub refused access ({status}); " + _access(repo_id)) from None
        if status == 404:  # the repo and revision exist (else the errors above) but hold no config.json
            raise ModelError(f"{option} {name} holds no config.json, so it is not a transformers model") from None
        return _cached(repo_id, revision, option, why=f"the Hub answered {status}")
    except Exception as e:  # no connection, DNS failure, timeout, proxy: every library raises its own type
        return _cached(repo_id, revision, option, why=f"cannot reach the Hugging Face Hub ({type(e).__name__})")
    commit = meta.commit_hash or revision
    return ModelSource(name, repo_id=repo_id, revision=commit, ref=(revision or "main") if commit != revision else None,
                       online=True)


def _access(repo_id: str, private: bool = False) -> str:
    """What to do about a repo the token cannot read: log in, or ask for access."""
    from huggingface_hub import get_token  # deferred with the rest of huggingface_hub

    if get_token() is None:
        return "you are not logged in: run `hf auth login` or set HF_TOKEN"
    if private:
        return "your token (HF_TOKEN or the saved login) has no access to it"
    return f"your token has no access yet: request it at https://huggingface.co/{repo_id}"


def _cached(repo_id: str, revision: str | None, option: str, why: str | None) -> ModelSource:
    """The cached snapshot of `repo_id` at `revision` (`why` the Hub was not asked; None: HF_HUB_OFFLINE)."""
    from huggingface_hub import constants, try_to_load_from_cache  # deferred with the rest of huggingface_hub

    name = f"{repo_id}@{revision}" if revision else repo_id
    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if isinstance(found, str):
        folder = Path(found).parent
        if why is not None:  # from_pretrained falls back silently; say which snapshot stands in for the Hub's
            warnings.warn(f"{why}; using {repo_id}@{folder.name[:12]} from the cache", KolangNote, stacklevel=1)
        return ModelSource(name, folder=folder, repo_id=repo_id, revision=folder.name)
    where = f"the Hugging Face cache ({constants.HF_HUB_CACHE})"
    if why is None:
        raise ModelError(f"{option} {name}: no such folder here, and {where} does not hold it while HF_HUB_OFFLINE=1 "
                         f"forbids downloading; download it first (`hf download {repo_id}`), point HF_HOME at a cache "
                         "that holds it, or unset HF_HUB_OFFLINE")
    raise ModelError(f"{option} {name}: {why}, and {where} does not hold it; connect to the network, or download it "
                     f"where there is one (`hf download {repo_id}`) and point HF_HOME at that cache")


def fetched(source: ModelSource) -> ModelSource:
    """`source` with its files local (see `fetch`), so that loading it again asks the Hub nothing."""
    return replace(source, folder=fetch(source), online=False)


def fetch(source: ModelSource) -> Path:
    """The local folder of `source`, downloading the config, tokenizer and weights a hub snapshot lacks."""
    if source.folder is not None:
        return source.folder
    from huggingface_hub import hf_hub_download, snapshot_download  # deferred with the rest of huggingface_hub
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    quiet = are_progress_bars_disabled()
    enable_progress_bars()  # a download of gigabytes shows its progress, even where other bars are off
    try:
        folder = Path(snapshot_download(source.repo_id, revision=source.revision, allow_patterns=list(REPO_FILES)))
        if not any(folder.glob("model*.safetensors")):
            folder = Path(snapshot_download(source.repo_id, revision=source.revision, allow_patterns=list(BIN_WEIGHTS)))
        if source.ref:  # the cache notes which commit the branch named (refs/main), so the model is found offline later
            hf_hub_download(source.repo_id, "config.json", revision=source.ref)
    except Exception as e:  # huggingface_hub raises HTTP, connection and disk errors of many types
        raise ModelError(f"downloading {source} failed ({type(e).__name__}: {first_line(e)}); run the command again to "
                         "continue the download") from None
    finally:
        if quiet:
            disable_progress_bars()
    return folder
