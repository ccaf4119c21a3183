"""Atomic file and directory writes.

Every artifact the zoo writes (models, presets, results, images) is built under a
temporary name in the destination's own folder and then renamed into place. A rename
within one filesystem is atomic, so a crash leaves either the old artifact or the new
one, never a half-written file that would later load.
"""

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile


def _default_mode(directory=False):
    """The mode a plain open()/mkdir() would give under the current umask.

    mkstemp/mkdtemp create private (0600/0700) entries, and a rename keeps the mode:
    without this, presets and exports would be unreadable to other users.
    """
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


class ArtifactExistsError(FileExistsError, ValueError):
    """An artifact (preset, export version) exists and overwriting was not asked for.

    Both a `FileExistsError` and a `ValueError`, so callers catching either see it.
    """


def directory_size(path):
    """Total size of the files under `path` (or of `path` itself if it is a file).

    Returns:
      int. Bytes.
    """
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside `path`; renames it onto `path` if the block succeeds.

    `suffix` is kept at the end of the temporary name, for writers that check extensions
    (Keras wants `.keras` / `.weights.h5`).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}",
                               dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    """Atomically writes `text` to `path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def write_json(path, obj):
    """Atomically writes `obj` as indented JSON to `path`."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temporary directory beside `path`; moves it to `path` if the block succeeds.

    Raises:
      ArtifactExistsError: `path` exists and `overwrite` is False.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise ArtifactExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    try:
        yield tmp
        os.chmod(tmp, _default_mode(directory=True))
        if os.path.exists(path):
            if not exchange(tmp, path):  # tmp now holds the old one, deleted below
                # No atomic exchange here: move the old one aside, then the new one in. A
                # crash between the two leaves no `path`, and the old one at `*.old`.
                old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".old",
                                       dir=parent)
                os.rmdir(old)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def exchange(a, b):
    """Swaps two paths in one atomic step (Linux's renameat2 with RENAME_EXCHANGE), so that
    a directory is replaced with no moment in which its path is missing.

    Returns:
      bool. True when swapped; False where the system or filesystem cannot (then nothing
        changed).

    Raises:
      OSError: the exchange was attempted and failed for another reason.
    """
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library older than glibc 2.28
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), a)


def sha256(path):
    """The hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
