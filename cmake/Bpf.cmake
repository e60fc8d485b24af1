# Compile a CO-RE BPF program and generate its libbpf skeleton with bpftool.
#   memsight_bpf_skeleton(<name> <source.bpf.c>)
# produces the interface target memsight_bpf_<name> whose include directory holds <name>.skel.h.
find_program(CLANG_BPF NAMES clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(MEMSIGHT_BPF_ARCH x86)
  set(MEMSIGHT_VMLINUX_DIR ${CMAKE_SOURCE_DIR}/vmlinux/x86_64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(MEMSIGHT_BPF_ARCH arm64)
  set(MEMSIGHT_VMLINUX_DIR ${CMAKE_SOURCE_DIR}/vmlinux/aarch64)
else()
  message(FATAL_ERROR "memsight: no vmlinux.h for ${CMAKE_SYSTEM_PROCESSOR}; see vmlinux/README.md")
endif()
if(NOT EXISTS ${MEMSIGHT_VMLINUX_DIR}/vmlinux.h)
  message(FATAL_ERROR "memsight: ${MEMSIGHT_VMLINUX_DIR}/vmlinux.h is missing; see vmlinux/README.md")
endif()

function(memsight_bpf_skeleton name src)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    # -mcpu=v3: atomic fetch-and-add with its result (kernel >= 5.12), 32-bit jumps.
    COMMAND ${CLANG_BPF} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${MEMSIGHT_BPF_ARCH}
            -I${MEMSIGHT_VMLINUX_DIR} -I${CMAKE_SOURCE_DIR}/include -Wall -Werror
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
    DEPENDS ${src} ${CMAKE_SOURCE_DIR}/bpf/python_stack.h ${CMAKE_SOURCE_DIR}/include/memsight/events.h ${CMAKE_SOURCE_DIR}/include/memsight/alloc_events.h ${CMAKE_SOURCE_DIR}/include/memsight/sampling.h
    COMMENT "BPF ${src}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(memsight_bpf_${name}_gen DEPENDS ${skel})
  add_library(memsight_bpf_${name} INTERFACE)
  add_dependencies(memsight_bpf_${name} memsight_bpf_${name}_gen)
  target_include_directories(memsight_bpf_${name} INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
endfunction()
