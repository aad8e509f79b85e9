"""The networks, one file per family (SMA-STN, Micro-Attention, STRCN, FR, STANet)."""
