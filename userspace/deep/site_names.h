#pragma once
// Names a call site by its first frame outside the allocator and the language runtime.
#include "symbolize/symbolizer.h"

#include <string>
#include <vector>

namespace memsight::deep {

// Frames of the allocator or runtime: allocator libraries and libc/libstdc++ by module, and by name the
// malloc family, operator new/delete and the C++ standard library's templates instantiated in user code.
bool is_runtime_frame(const symbolize::Frame& f);
// Index of the innermost named Python frame (python/frames.h) if any; else of the first frame (innermost first)
// that is not a runtime frame; the last frame when all are.
size_t site_index(const std::vector<symbolize::Frame>& stack);
// A frame as text: function+0xoff (module), module+0xoff, or the bare address when nothing is mapped there.
std::string frame_text(const symbolize::Frame& f);
// The name of the site (the deep tier's and the growth sites'): the function of that frame, else its frame_text;
// "[unknown]" for an empty stack.
std::string site_name(const std::vector<symbolize::Frame>& stack);

} // namespace memsight::deep
