"""Details of a task whose answer came from a hostile server: capped, paged, quick.

The state is fetched over loopback from the simulator (5,000 outputs, a 500,000-character
fail reason), stored, and opened the way a user opens it. Without paging every output row
(three buttons each) was built at once: 5,000 took about 50 s and 828 MB.
"""

from __future__ import annotations

from textual.widgets import Button

from siray_tui.core.client import SirayClient
from siray_tui.core.columns import COLUMNS, count_text
from siray_tui.core.limits import DETAILS_OUTPUT_PAGE, MAX_FAIL_REASON, MAX_OUTPUTS
from siray_tui.core.models import TaskKind, WatchedTask
from siray_tui.core.secret import Secret
from siray_tui.sim import HostileAnswer, SimServer
from siray_tui.ui.columns import row_spec
from siray_tui.ui.screens.details import DetailsScreen, OutputRow
from tests.ui.conftest import AppFactory, open_details
from tests.ui.fixtures import NOW

EXTRA = 5000


async def hostile_task(sim: SimServer) -> WatchedTask:
    task = sim.scenario.add_task("image", "image_hostile01", queue_s=0, run_s=0, created_at=1.0)
    sim.faults.hostile_tasks[task.task_id] = HostileAnswer(
        fail_reason="r" * 500_000, extra_outputs=EXTRA
    )
    async with SirayClient(sim.base_url, Secret("t")) as client:
        state = await client.get_task(task.task_id, TaskKind.IMAGE)
    watched = WatchedTask(task.task_id, TaskKind.IMAGE, added_at=NOW - 60)
    watched.observe(state, at=NOW - 1)
    return watched


async def test_details_build_one_page_of_outputs_and_say_how_many_more(
    sim: SimServer, make_app: AppFactory
) -> None:
    watched = await hostile_task(sim)
    state = watched.state
    assert state is not None
    total = state.output_count
    assert total > EXTRA
    assert len(state.fail_reason) == MAX_FAIL_REASON
    app = make_app([watched])
    async with app.run_test(size=(120, 50)) as pilot:
        await open_details(pilot, watched.task_id)
        screen = app.screen
        assert isinstance(screen, DetailsScreen)
        assert len(screen.query(OutputRow)) == DETAILS_OUTPUT_PAGE
        more = screen.query_one("#more-outputs", Button)
        assert f"{MAX_OUTPUTS - DETAILS_OUTPUT_PAGE:,} not shown" in str(more.render())
        dropped = screen.query_one("#outputs-dropped")
        assert f"{total - MAX_OUTPUTS:,} more outputs" in str(dropped.render())
        more.press()  # as enter on the focused button would
        await pilot.pause()
        assert len(screen.query(OutputRow)) == 2 * DETAILS_OUTPUT_PAGE
        assert app.is_running


async def test_out_column_shows_the_full_count(sim: SimServer) -> None:
    watched = await hostile_task(sim)
    assert watched.state is not None
    index = [column.key for column in COLUMNS].index("outputs")
    cell = row_spec(watched, NOW)[index]
    assert cell[0][0] == str(watched.state.output_count)  # "5004", not "50…"
    assert len(cell[0][0]) <= COLUMNS[index].width
    assert count_text(5000) == "5000"
    assert count_text(12_345) == "12k"
