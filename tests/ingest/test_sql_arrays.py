"""`sql.int_array`: the array literals the PostgreSQL hot statements bind instead of psycopg's per-element lists."""

from __future__ import annotations

import pytest
from django.db import connection

from mqtt_app.ingest.sql import int_array, pg_fetch


def test_numbers_flags_and_nulls_become_one_literal():
    assert int_array([3, -1, 9_007_199_254_740_993]) == "{3,-1,9007199254740993}"
    assert int_array([True, False, None]) == "{True,False,NULL}"
    assert int_array([]) == "{}"
    assert int_array(n for n in (1, 2)) == "{1,2}"


@pytest.mark.django_db
def test_postgresql_reads_the_literals_as_the_arrays_they_stand_for():
    if connection.vendor != "postgresql":
        pytest.skip("the literals are only bound on PostgreSQL; SQLite runs one statement per topic")
    (row,) = pg_fetch(
        "SELECT %s::bigint[], %s::boolean[], %s::integer[], %s::smallint[]",
        [int_array([2**62, -5]), int_array([True, False]), int_array([7, None]), int_array([])],
    )
    assert row == ([2**62, -5], [True, False], [7, None], [])
