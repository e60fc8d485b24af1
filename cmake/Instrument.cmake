# Sanitizers and coverage for memsight's own code: memsight_core, the memsight binary and whatever links
# memsight_core (unit tests, fuzz replays, benchmarks). Never for the scenario programs: the deep tier attaches
# uprobes to their allocator, which must stay the C library's, not a sanitizer's interceptor.
#   -DMEMSIGHT_SANITIZE=address,undefined   ASan + UBSan (the CI test build; any UBSan report aborts)
#   -DMEMSIGHT_SANITIZE=thread              TSan (a separate build: it cannot be combined with ASan)
#   -DMEMSIGHT_COVERAGE=ON                  gcov counters; `scripts/coverage.sh BUILD_DIR` reports with gcovr
set(MEMSIGHT_SANITIZE "" CACHE STRING "Sanitizers for memsight's own code: empty, address,undefined or thread")
option(MEMSIGHT_COVERAGE "gcov instrumentation of memsight's own code" OFF)

function(memsight_instrument target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "STATIC_LIBRARY")
    set(link_scope INTERFACE) # the executables that link the library link the runtimes
  else()
    set(link_scope PRIVATE)
  endif()
  if(MEMSIGHT_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${MEMSIGHT_SANITIZE} -fno-sanitize-recover=all)
    if(MEMSIGHT_SANITIZE MATCHES "undefined" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # GCC's null checks make the address of any object possibly null, so constant expressions that compare one
      # with nullptr (deep/alloc_hooks.h's static checks) stop compiling. A null dereference still stops ASan.
      target_compile_options(${target} PRIVATE -fno-sanitize=null,nonnull-attribute,returns-nonnull-attribute)
    endif()
    target_link_options(${target} ${link_scope} -fsanitize=${MEMSIGHT_SANITIZE})
  endif()
  if(MEMSIGHT_COVERAGE)
    # Not -fprofile-update=atomic: atomic counters slow hot loops down (GrowthSuspicion.RandomBandIsRarelyALeak took
    # 88 s with them and ASan, 1.5 s in a plain build). Counts bumped from two threads at once may come out a little
    # low, which a covered/not-covered report does not mind.
    target_compile_options(${target} PRIVATE --coverage)
    target_link_options(${target} ${link_scope} --coverage)
  endif()
endfunction()
