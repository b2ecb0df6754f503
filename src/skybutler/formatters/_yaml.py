"""YAML formatter (PyYAML, safe loader)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

import yaml

from skybutler.errors import FormatterError
from skybutler.formatters._formatter import Formatter

__all__ = ["YamlFormatter"]

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlFormatter(Formatter):
    """YAML for dicts and lists; read with the safe loader, so no code runs."""

    name = "yaml"
    extensions = (".yaml",)
    storage_classes = ("StructuredDataDict", "StructuredDataList", "Metadata")

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write block-style YAML."""
        try:
            text = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        except yaml.YAMLError as exc:
            raise FormatterError(f"Cannot write this object as YAML: {exc}.") from exc
        stream.write(text.encode())

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Parse the YAML document."""
        self.refuse_parts(component, parameters)
        return yaml.load(stream.read(), Loader=_Loader)
