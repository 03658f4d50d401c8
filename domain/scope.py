"""What part of the organisation a viewer may see: everything (CLI, admins) or a set of
departments with everything nested below them (a supervisor). `filter` and `where` are the one
way a query is narrowed to a scope, in the ORM and in hand-written SQL."""

from dataclasses import dataclass
from typing import TypeVar

from tortoise.queryset import QuerySet

from models.organization import department_subtree_ids

Q = TypeVar("Q", bound=QuerySet)


@dataclass(frozen=True)
class Scope:
    """Departments a viewer may see; `None` means the whole organisation."""

    department_ids: frozenset[int] | None = None

    @classmethod
    def everything(cls) -> "Scope":
        """The whole organisation, including employees with no department."""
        return cls(None)

    @classmethod
    async def departments(cls, root_ids: list[int]) -> "Scope":
        """These departments and every department nested below them."""
        return cls(frozenset(await department_subtree_ids(root_ids)))

    @property
    def is_everything(self) -> bool:
        """Whether nothing is filtered out."""
        return self.department_ids is None

    @property
    def is_empty(self) -> bool:
        """Whether nothing at all is visible (a supervisor without departments)."""
        return self.department_ids is not None and not self.department_ids

    def includes(self, department_id: int | None) -> bool:
        """Whether a person in this department is visible."""
        return self.department_ids is None or department_id in self.department_ids

    def filter(self, rows: Q, field: str = "department_id") -> Q:
        """The queryset narrowed to rows whose `field` (a department ID) is in scope."""
        if self.department_ids is None:
            return rows
        return rows.filter(**{f"{field}__in": sorted(self.department_ids)})

    def where(self, column: str) -> tuple[str, list[int]]:
        """` AND column IN (?, …)` and its parameters narrowing hand-written SQL to the scope
        (`?` placeholders, as `models.sql.fetch` takes them)."""
        if self.department_ids is None:
            return "", []
        if not self.department_ids:
            return " AND 1 = 0", []
        ids = sorted(self.department_ids)
        return f" AND {column} IN ({', '.join('?' * len(ids))})", ids
