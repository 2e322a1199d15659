using System.Text;

namespace Conductor.Sdk.Model
{
    /// <summary>Turns YAML names into C# identifiers.</summary>
    public static class Naming
    {
        /// <summary>
        /// <c>user-onboarding</c> → <c>UserOnboarding</c>; characters that cannot appear in an
        /// identifier act as word breaks, and a leading digit gets an underscore.
        /// </summary>
        public static string ToPascalCase(string name)
        {
            var builder = new StringBuilder(name.Length);
            var upper = true;
            foreach (var c in name)
            {
                if (c < 128 && char.IsLetterOrDigit(c))
                {
                    builder.Append(upper ? char.ToUpperInvariant(c) : c);
                    upper = false;
                }
                else
                {
                    upper = true;
                }
            }

            if (builder.Length == 0) return "_";
            if (char.IsDigit(builder[0])) builder.Insert(0, '_');
            return builder.ToString();
        }
    }
}
