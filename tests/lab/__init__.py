"""The havengate test lab: fake OpenVZ nodes over real SSH, with real JVMs in containers.

Import it from tests (pytest runs with ``pythonpath = tests``)::

    from lab import Lab, JavaSpec

See README.md in this directory for what is real, what is faked, and the lab's rules.
"""

from .core import Container, Lab, LabError, Node, free_port, java_classpath, port_accepts
from .fakevz import JavaSpec, ServiceSpec, default_conf, jvm_hangs, visible_cpus

__all__ = [
    "Container",
    "JavaSpec",
    "Lab",
    "LabError",
    "Node",
    "ServiceSpec",
    "default_conf",
    "free_port",
    "java_classpath",
    "jvm_hangs",
    "port_accepts",
    "visible_cpus",
]
