"""The ground floor: errors, atomic I/O, torch.distributed, machine facts."""
