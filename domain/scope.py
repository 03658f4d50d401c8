"""What part of the organisation a viewer may see: everything (CLI, admins) or a set of
departments with everything nested below them (a supervisor, later)."""

from dataclasses import dataclass

from models.organization import department_subtree_ids


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

    def includes(self, department_id: int | None) -> bool:
        """Whether a person in this department is visible."""
        return self.department_ids is None or department_id in self.department_ids
