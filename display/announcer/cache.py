"""A folder of synthesized phrases, so that a phrase said before is not synthesized again.

The key is a hash of everything that changes the sound: text, voice, rate and volume.
Files are written under a temporary name and renamed into place, so a power cut during
synthesis leaves no half-written WAV that would be played forever after. The folder is
kept to ``max_files`` by removing the least recently used phrases.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Bump when the way phrases are produced changes, so old files are not reused.
CACHE_FORMAT = 1


@dataclass(frozen=True)
class PhraseKey:
    text: str
    voice: str
    rate: int
    volume: float

    def digest(self) -> str:
        blob = json.dumps([CACHE_FORMAT, self.text, self.voice, self.rate, round(self.volume, 3)],
                          ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class PhraseCache:
    """WAV files named by :meth:`PhraseKey.digest`; counts hits and misses."""

    def __init__(self, directory: str | Path, max_files: int = 2000) -> None:
        self.directory = Path(directory)
        self.max_files = max_files
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def path_for(self, key: PhraseKey) -> Path:
        return self.directory / f"{key.digest()}.wav"

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.wav"))

    def get_or_create(self, key: PhraseKey, produce: Callable[[Path], None]) -> Path:
        """The cached WAV for ``key``; on a miss ``produce(tmp_path)`` writes it first."""
        path = self.path_for(key)
        if path.is_file() and path.stat().st_size > 44:  # more than a bare WAV header
            with contextlib.suppress(OSError):
                os.utime(path)  # least-recently-used order for pruning
            with self._lock:
                self.hits += 1
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.wav")
        try:
            produce(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        with self._lock:
            self.misses += 1
        self._prune()
        return path

    def _prune(self) -> None:
        files = self.files()
        excess = len(files) - self.max_files
        if excess <= 0:
            return
        by_age = sorted(files, key=lambda p: p.stat().st_mtime)
        for old in by_age[:excess]:
            old.unlink(missing_ok=True)
        log.info("phrase cache: removed %d least recently used phrase(s)", excess)

    def __repr__(self) -> str:
        return f"<PhraseCache {self.directory} hits={self.hits} misses={self.misses}>"
