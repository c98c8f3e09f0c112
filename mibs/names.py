"""Symbolic MIB names (``IF-MIB::ifHCInOctets``, ``HOST-RESOURCES-MIB::hrSystemProcesses.0``) to numeric OIDs,
through the index ``python -m mibs.build_index`` compiled at build time: reading it is a JSON load, no MIB
is parsed at run time. The shipped index (``mibs/index.json``) is loaded once, on first use.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1
SHIPPED_INDEX = Path(__file__).resolve().parent / "index.json"
USER_INDEX_NAME = "mib-index.json"  # beside a directory's profiles: that directory's own MIB modules

SYMBOL = re.compile(
    r"^(?P<module>[A-Za-z][A-Za-z0-9-]*)::(?P<name>[A-Za-z][A-Za-z0-9_-]*)(?P<index>(\.\d+)*)$"
)


class UnknownName(ValueError):
    """A module or object name the index does not hold; the message offers a close match if there is one."""


def is_symbol(text: str) -> bool:
    return SYMBOL.match(text) is not None


@dataclass(frozen=True)
class MibIndex:
    """module -> name -> (numeric OID, kind, syntax), as mibs/build_index.py writes it."""

    modules: Mapping[str, Mapping[str, tuple[str, str, str]]]

    @classmethod
    def from_data(cls, data: Any) -> MibIndex:
        modules = data.get("modules") if isinstance(data, dict) else None
        if not isinstance(modules, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a MIB index of format {FORMAT} (rebuild: python -m mibs.build_index)")
        return cls(
            {
                module: {name: (str(e[0]), str(e[1]), str(e[2])) for name, e in entries.items()}
                for module, entries in modules.items()
            }
        )

    def merged(self, other: MibIndex) -> MibIndex:
        """This index with ``other``'s modules added; a module in both is taken whole from ``other``."""
        return MibIndex({**self.modules, **other.modules})

    def resolve(self, symbol: str) -> str:
        """``MODULE::name`` or ``MODULE::name.1.2`` -> dotted numeric OID; UnknownName otherwise."""
        m = SYMBOL.match(symbol)
        if m is None:
            raise UnknownName(f"not a MIB name of the form MODULE::name[.index]: {symbol!r}")
        module, name, index = m.group("module"), m.group("name"), m.group("index")
        entries = self.modules.get(module)
        if entries is None:
            hint = _hint(module, self.modules)
            raise UnknownName(
                f"unknown MIB module {module!r} in {symbol!r}{hint}; compile its MIB file into "
                f"{USER_INDEX_NAME} beside the profile (python -m mibs.build_index --mib-dir DIR --out ...)"
            )
        entry = entries.get(name)
        if entry is None:
            raise UnknownName(f"unknown MIB name {module}::{name}{self._suggest(module, name)}")
        return entry[0] + index

    def _suggest(self, module: str, name: str) -> str:
        elsewhere = sorted(mod for mod, entries in self.modules.items() if name in entries)
        if elsewhere:
            return f" (did you mean {elsewhere[0]}::{name}?)"
        close = difflib.get_close_matches(name, self.modules[module], n=1)
        if close:
            return f" (did you mean {module}::{close[0]}?)"
        everywhere = {n: mod for mod, entries in sorted(self.modules.items()) for n in entries}
        close = difflib.get_close_matches(name, everywhere, n=1)
        return f" (did you mean {everywhere[close[0]]}::{close[0]}?)" if close else ""


def _hint(word: str, choices: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_index(path: Path) -> MibIndex:
    """An index file; ValueError (naming the file) if it is not one."""
    try:
        return MibIndex.from_data(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, IndexError, AttributeError) as err:
        raise ValueError(f"{path}: {err}") from None


@functools.cache
def shipped_index() -> MibIndex:
    """The index shipped with the package (the standard MIBs), read once per process."""
    return load_index(SHIPPED_INDEX)
