"""A command's work as library functions: validated inputs → result → files written atomically.

Each module here is what one group of ``jaxglass`` commands runs, callable from Python with the same
outputs; the command line (:mod:`jaxglass.cli`) only parses options, calls these and prints.

- :mod:`.pdos` — one structure → (relaxed) → Γ-point PDOS, dense or KPM (``pdos``, ``quench``);
- :mod:`.spectrum` — one observable (PDOS, neutron DOS, INS/IXS S(Q, ω), Raman) of a structure
  (``spectra``);
- :mod:`.features` — smoothed g(r) of structure files and the features a trained model takes from
  structures or a measured S(Q) (``rdf``, ``predict``).
"""
