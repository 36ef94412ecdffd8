//! Frame snapshots of the console in each state, at 80x24 and 200x60 (snapshots/console/).
