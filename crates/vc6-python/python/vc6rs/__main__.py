"""``python -m vc6rs`` lists the backends this build has and what they would run on."""

from . import __version__, backends

for name, compiled, device, why in backends():
    state = device if device else (why or "not compiled in")
    print(f"{name:8} {'compiled' if compiled else 'absent  '}  {state}")
print(f"vc6rs {__version__}")
