"""`manage.py mqtt_grant USER SITE ROLE` gives USER the ROLE (viewer, operator, manager) on SITE (its id, slug or
name), replacing the role they held there; `--revoke` takes their role on SITE away (ROLE may be left out);
`--list` shows the roles on SITE (or, with USER only, the user's)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from mqtt_app.models import Role, Site, SiteRole
from mqtt_app.services.roles import set_role


class Command(BaseCommand):
    help = (
        "Give USER the ROLE (viewer, operator or manager) on SITE (id, slug or name), replacing any role held "
        "there. --revoke takes the user's role on SITE away. --list lists roles (of SITE, or of USER). "
        "Every change is recorded in the audit trail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("site", nargs="?", help="A site's id, slug or name.")
        parser.add_argument("role", nargs="?", choices=list(Role.values))
        parser.add_argument("--revoke", action="store_true", help="Take the user's role on SITE away.")
        parser.add_argument("--list", action="store_true", help="List roles instead of changing them.")

    def handle(self, *args: object, **options: object) -> None:
        username, reference, role = options["username"], options["site"], options["role"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        site = _site(str(reference)) if reference else None
        if options["list"]:
            roles = SiteRole.objects.filter(site=site) if site else SiteRole.objects.filter(user=user)
            for row in roles.select_related("user", "site"):
                self.stdout.write(f"{row.user.username}\t{row.site.name}\t{row.role}")
            return
        if site is None:
            raise CommandError("Give a SITE (and a ROLE, or --revoke).")
        if options["revoke"]:
            changed = set_role(None, user, site, None, via="cli")
            self.stdout.write(f"{username} no longer has a role on {site.name}." if changed else
                              f"{username} had no role on {site.name}.")  # fmt: skip
            return
        if not role:
            raise CommandError(f"Give a ROLE: one of {', '.join(Role.values)} (or --revoke).")
        changed = set_role(None, user, site, str(role), via="cli")
        self.stdout.write(f"{username} is {role} of {site.name}" + ("." if changed else " (unchanged)."))


def _site(reference: str) -> Site:
    query = Q(slug=reference) | Q(name=reference)
    if reference.isdigit():
        query |= Q(pk=int(reference))
    matches = list(Site.objects.filter(query)[:2])
    if len(matches) != 1:
        raise CommandError(f"No site {reference!r}." if not matches else f"{reference!r} names several sites.")
    return matches[0]
