using System.Reflection;
using System.Runtime.CompilerServices;
using Xunit;

namespace Conductor.Sdk.Tests
{
    /// <summary>Issue #22 point 1: registration extensions live where .NET users look for them.</summary>
    public sealed class RegistrationConventionTests
    {
        private static readonly Assembly[] Packages =
        [
            typeof(ConductorOptions).Assembly,                                         // Conductor.Sdk
            typeof(Push.PushChannel).Assembly,                                         // Conductor.Sdk.Push
            typeof(Smtp.SmtpEmailProvider).Assembly,                                   // Conductor.Sdk.Smtp
            typeof(Twilio.TwilioSmsProvider).Assembly,                                 // Conductor.Sdk.Twilio
            typeof(PostgreSql.PostgreSqlDeliveryStore).Assembly,                       // Conductor.Sdk.PostgreSql
            typeof(AspNetCore.ConductorWebhookVerificationOptions).Assembly,           // Conductor.Sdk.AspNetCore
            typeof(Microsoft.EntityFrameworkCore.ConductorOutboxDbContextExtensions).Assembly, // Conductor.Sdk.EntityFrameworkCore
        ];

        /// <summary>Where Microsoft.Extensions.* and ASP.NET Core put the extensions of each receiver type.</summary>
        private static string? ExpectedNamespace(Type receiver) => receiver switch
        {
            _ when receiver == typeof(Microsoft.Extensions.DependencyInjection.IServiceCollection) => "Microsoft.Extensions.DependencyInjection",
            _ when receiver == typeof(Microsoft.Extensions.DependencyInjection.ConductorBuilder) => "Microsoft.Extensions.DependencyInjection",
            _ when typeof(Microsoft.AspNetCore.Builder.IEndpointConventionBuilder).IsAssignableFrom(receiver) => "Microsoft.AspNetCore.Builder",
            _ when typeof(Microsoft.AspNetCore.Routing.IEndpointRouteBuilder).IsAssignableFrom(receiver) => "Microsoft.AspNetCore.Builder",
            { IsGenericParameter: true } when receiver.GetGenericParameterConstraints().Any(c => typeof(Microsoft.AspNetCore.Builder.IEndpointConventionBuilder).IsAssignableFrom(c)) => "Microsoft.AspNetCore.Builder",
            _ when receiver == typeof(Microsoft.EntityFrameworkCore.DbContext) => "Microsoft.EntityFrameworkCore",
            _ => null,
        };

        [Fact]
        public void Every_registration_extension_is_in_the_namespace_of_the_type_it_extends()
        {
            var checkedMethods = 0;
            var wrong = new List<string>();
            foreach (var type in Packages.SelectMany(a => a.GetExportedTypes()).Where(t => t.IsAbstract && t.IsSealed))
            {
                foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.IsDefined(typeof(ExtensionAttribute))))
                {
                    var expected = ExpectedNamespace(method.GetParameters()[0].ParameterType);
                    if (expected is null) continue;
                    checkedMethods++;
                    if (type.Namespace != expected) wrong.Add($"{type.FullName}.{method.Name} extends {method.GetParameters()[0].ParameterType.Name} but is in {type.Namespace}, not {expected}");
                }
            }

            Assert.Empty(wrong);
            // AddConductor, the store, email, SMS and push registrations, MapConductorDashboard-style endpoint helpers, EF Core.
            Assert.True(checkedMethods >= 15, $"only {checkedMethods} registration methods were found; the reflection scan is not seeing the packages");
        }

        [Fact]
        public void A_file_with_no_Conductor_using_registers_everything()
        {
            var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
            Acme.Shop.Startup.Register(services);
            Assert.Contains(services, d => d.ServiceType == typeof(Delivery.IDeliveryStore));
            Assert.Contains(services, d => d.ServiceType == typeof(Smtp.SmtpEmailProvider) || d.ImplementationType == typeof(Smtp.SmtpEmailProvider));
        }
    }
}

// Compiled as an application's file would be: only the usings that Microsoft.NET.Sdk.Web and .Worker add implicitly.
// If a registration method moved out of these namespaces, this would stop compiling.
namespace Acme.Shop
{
    using Microsoft.Extensions.DependencyInjection;

    internal static class Startup
    {
        public static void Register(IServiceCollection services) =>
            services.AddConductor()
                .UseSqlite("App_Data/shop.db")
                .ConfigureEmail(o => o.DefaultProvider = "smtp")
                .AddSmtpEmail(o => o.Host = "smtp.example.com")
                .AddTwilioSms()
                .AddVonageSms()
                .AddFirebasePush()
                .AddWebPush();
    }
}
