// DitWorkspace (text_model.h): the activation buffers of the cross-attention DiTs PixArt-α (Chen et al. 2023) and
// Wan2.1 (Wan Team 2025), one allocation scheme for both.
#include "models/text_model.h"

namespace ditto::family {

Status DitWorkspace::ensure(int64_t B, int64_t rows_needed, int64_t D, int64_t depth, int64_t scratch_cols,
                            int64_t freq_cols) {
  if (rows >= rows_needed && batch >= B) return Status::Ok();
  DitWorkspace n;
  DITTO_ASSIGN_OR_RETURN(n.h, f32_buffer(rows_needed, D));
  DITTO_ASSIGN_OR_RETURN(n.xn, f32_buffer(rows_needed, D));
  DITTO_ASSIGN_OR_RETURN(n.attn, f32_buffer(rows_needed, D));
  DITTO_ASSIGN_OR_RETURN(n.scratch, f32_buffer(rows_needed, scratch_cols));
  DITTO_ASSIGN_OR_RETURN(n.t_freq, f32_buffer(B, freq_cols));
  DITTO_ASSIGN_OR_RETURN(n.t_hidden, f32_buffer(B, D));
  DITTO_ASSIGN_OR_RETURN(n.temb, f32_buffer(B, D));
  DITTO_ASSIGN_OR_RETURN(n.t6, f32_buffer(B, 6 * D));
  DITTO_ASSIGN_OR_RETURN(n.mods, f32_buffer(B, depth * 6 * D));
  DITTO_ASSIGN_OR_RETURN(n.final_mod, f32_buffer(B, 2 * D));
  n.batch = B;
  n.rows = rows_needed;
  *this = std::move(n);
  return Status::Ok();
}

uint64_t DitWorkspace::bytes() const {
  uint64_t b = 0;
  for (const Tensor* t : {&h, &xn, &attn, &scratch, &t_freq, &t_hidden, &temb, &t6, &mods, &final_mod})
    b += t->nbytes();
  return b;
}

}  // namespace ditto::family
