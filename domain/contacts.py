"""Where an employee can be reached by e-mail: the address from the employee record (unless the
employee turned it off) and the further addresses they added, confirmed and left on."""

from collections.abc import Iterable

from models import Employee, EmployeeEmail


async def email_addresses(employee_ids: Iterable[int]) -> dict[int, list[str]]:
    """{employee ID: enabled addresses, record's address first, no duplicates}; employees
    with none are left out."""
    ids = list(employee_ids)
    found: dict[int, list[str]] = {}
    if not ids:
        return found

    def add(employee_id: int, address: str | None) -> None:
        address = (address or "").strip()
        if not address:
            return
        addresses = found.setdefault(employee_id, [])
        if address.lower() not in (a.lower() for a in addresses):
            addresses.append(address)

    for employee_id, address in await Employee.filter(
        id__in=ids, email_enabled=True, email__isnull=False
    ).values_list("id", "email"):
        add(employee_id, address)
    for employee_id, address in (
        await EmployeeEmail.filter(employee_id__in=ids, enabled=True, confirmed_at__isnull=False)
        .order_by("id")
        .values_list("employee_id", "address")
    ):
        add(employee_id, address)
    return found
