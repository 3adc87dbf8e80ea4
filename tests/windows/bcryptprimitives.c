/* TEST-ONLY, never shipped. Wine 8 has no bcryptprimitives.dll, whose ProcessPrng Rust's std (>= 1.78) imports
 * for random numbers (HashMap seeds): without it every Rust exe stops at start-up under wine 8. Windows 10 and
 * 11 have the real one. tests/windows_wine.rs builds this with mingw into the test's wine prefix (system32). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom, advapi32 */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
