"""BRAIN's simulator: subjects whose EEG carries a P300 to their own birthdate.

:mod:`brain_sim.simulate` makes recordings, :mod:`brain_sim.families` draws populations of
subjects, :mod:`brain_sim.truth` gives the noise-free truth an oracle needs, and
:mod:`brain_sim.emulator` streams a subject to BrainFlow's real Crown driver.
"""
