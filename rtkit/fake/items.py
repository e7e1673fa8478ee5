"""The conversation's items, in order, as the fake keeps them."""

from __future__ import annotations

from typing import Any

__all__ = ["Items"]


class Items:
    """Item ids in conversation order, and the items by id."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.by_id: dict[str, dict[str, Any]] = {}

    @property
    def last(self) -> str | None:
        """The id of the last item, or None for an empty conversation."""
        return self.order[-1] if self.order else None

    def add(self, item: dict[str, Any], after: str | None = None) -> str | None:
        """Add `item` at the end, or after the item `after` (`"root"`: first); return the id
        of the item before it (None when it is first: the live API sends null, never "root")."""
        if after == "root":
            index = 0
        elif after is not None and after in self.by_id:
            index = self.order.index(after) + 1
        else:
            index = len(self.order)
        self.order.insert(index, item["id"])
        self.by_id[item["id"]] = item
        return self.order[index - 1] if index > 0 else None

    def remove(self, item_id: str) -> bool:
        """Delete an item; False when there is none with that id."""
        if item_id not in self.by_id:
            return False
        self.order.remove(item_id)
        del self.by_id[item_id]
        return True
