module memsight/tests/scenarios/go_allocator

go 1.19
