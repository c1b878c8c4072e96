"""Every rule, in one explicit tuple (ids are unique; a test checks)."""

from havengate.assess.rules import (
    hg001_futex_hang,
    hg002_cpumask_beyond_target,
    hg003_cpus_above_target,
    hg004_visible_cpus_change,
    hg005_target_kernel_older,
    hg006_target_not_openvz,
    hg007_old_vzctl,
    hg008_stopped_container,
    hg009_ctid_on_target,
    hg010_conf_problems,
)

RULES = (
    hg001_futex_hang,
    hg002_cpumask_beyond_target,
    hg003_cpus_above_target,
    hg004_visible_cpus_change,
    hg005_target_kernel_older,
    hg006_target_not_openvz,
    hg007_old_vzctl,
    hg008_stopped_container,
    hg009_ctid_on_target,
    hg010_conf_problems,
)
