// Language-feature shims for netstandard2.0 (records and init accessors need this type).
namespace System.Runtime.CompilerServices
{
    internal static class IsExternalInit
    {
    }
}
