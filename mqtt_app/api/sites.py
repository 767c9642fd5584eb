"""Sites: `GET/POST /api/sites`, `GET/PATCH/DELETE /api/sites/{id}`.

Everyone sees the sites they hold a role on; a manager may rename a site; creating and deleting sites (which
holds the roles on them) is for superusers.
"""

from __future__ import annotations

import logging

from django.utils.text import slugify
from ninja import Query, Router, Status

from mqtt_app import access
from mqtt_app.models import Site
from mqtt_app.services import audit

from . import auth
from .auth import ApiRequest
from .errors import ApiError, field_error
from .pagination import PageParams, page_of, paginate
from .schemas import ERRORS_READ, ERRORS_WRITE, SiteIn, SiteOut, SitePatch
from .writes import get_for, save_validated

logger = logging.getLogger(__name__)
router = Router(tags=["sites"], auth=auth.readers())
SitePage = page_of(SiteOut, "SitePage")
AUDIT_FIELDS = ("name", "slug", "description")


def _out(site: Site) -> dict:
    return {"id": site.pk, "name": site.name, "slug": site.slug, "description": site.description}


def _save(site: Site) -> None:
    # Derive the slug before validation so a clash is a 422 on `slug`, not a database error.
    if not site.slug:
        site.slug = slugify(site.name)[:200] or "site"
    save_validated(site)


@router.get("/sites", response={200: SitePage, **ERRORS_READ}, summary="List sites")
def list_sites(request: ApiRequest, page: Query[PageParams]) -> dict:
    return paginate(access.filter_for(request.auth, Site.objects.order_by("name")), page.limit, page.offset, _out)


@router.post("/sites", response={201: SiteOut, **ERRORS_WRITE}, summary="Create a site")
def create_site(request: ApiRequest, payload: SiteIn) -> Status:
    access.require_superuser(request.auth)
    site = Site(name=payload.name.strip(), slug=payload.slug.strip(), description=payload.description)
    _save(site)
    changes = audit.diff({}, audit.snapshot(site, AUDIT_FIELDS))
    audit.record(request.auth, "site.create", site_id=site.pk, target=site.name, changes=changes)
    logger.info("site %s (%s) created by %s", site.pk, site.slug, request.auth)
    return Status(201, _out(site))


@router.get("/sites/{site_id}", response={200: SiteOut, **ERRORS_READ}, summary="One site")
def get_site(request: ApiRequest, site_id: int) -> dict:
    return _out(get_for(request.auth, Site.objects.all(), site_id, "site"))


@router.patch("/sites/{site_id}", response={200: SiteOut, **ERRORS_WRITE}, summary="Change a site")
def patch_site(request: ApiRequest, site_id: int, payload: SitePatch) -> dict:
    site = get_for(request.auth, Site.objects.all(), site_id, "site", access.MANAGER)
    before = audit.snapshot(site, AUDIT_FIELDS)
    for field, value in payload.model_dump(exclude_unset=True).items():
        if value is None:
            raise field_error(field, "must not be null")
        setattr(site, field, value.strip() if field != "description" else value)
    _save(site)
    audit.record(request.auth, "site.change", site_id=site.pk, target=site.name,
                 changes=audit.diff(before, audit.snapshot(site, AUDIT_FIELDS)))  # fmt: skip
    return _out(site)


@router.delete("/sites/{site_id}", response={204: None, **ERRORS_WRITE}, summary="Delete a site")
def delete_site(request: ApiRequest, site_id: int) -> Status:
    site = get_for(request.auth, Site.objects.all(), site_id, "site")
    access.require_superuser(request.auth)
    # Deleting a site would silently delete its connections and all their readings: make that explicit.
    connections = site.connections.count()
    if connections:
        raise ApiError(409, f"Site {site.name!r} still has {connections} connection(s); delete them first.")
    site.delete()
    audit.record(request.auth, "site.delete", site_id=site_id, target=site.name)
    logger.info("site %s deleted by %s", site_id, request.auth)
    return Status(204, None)
