/* libaux.so (issue 7 case 2): linked with -Wl,-f,libm.so.6 -Wl,--no-as-needed -lm, so its DT_AUXILIARY
   and DT_NEEDED entries name the same .dynstr string "libm.so.6". aux_name() is not in libm, so the
   loader falls back from the auxiliary filter to libaux's own definition. */
const char *aux_name(void)
{
    return "libaux";
}
