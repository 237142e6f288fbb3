"""Exports of capture histories and data packages for secr, camtrapR, MARK and Camtrap DP."""
