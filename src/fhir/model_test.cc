#include "fhir/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace sund::fhir {
namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Verifies: REQ-FHIR-001
TEST(ModelTest, HasAllR4SearchParametersAndResourceTypes) {
  const Model& m = Model::R4();
  EXPECT_EQ(m.all_search_params().size(), 1378u);
  EXPECT_GE(m.resource_types().size(), 140u);
  EXPECT_LE(m.resource_types().size(), 150u);
  EXPECT_TRUE(std::is_sorted(m.resource_types().begin(), m.resource_types().end()));
  EXPECT_TRUE(m.IsResourceType("Patient"));
  EXPECT_TRUE(m.IsResourceType("Observation"));
  EXPECT_FALSE(m.IsResourceType("DomainResource"));  // abstract
  EXPECT_FALSE(m.IsResourceType("HumanName"));
  EXPECT_FALSE(m.IsResourceType("Patient.contact"));
}

// Verifies: REQ-FHIR-002
TEST(ModelTest, ObservationCodeIsTokenOnObservationCode) {
  const Model& m = Model::R4();
  const SearchParamDef* p = m.FindSearchParam("Observation", "code");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->type, SearchParamType::kToken);
  EXPECT_NE(p->expression.find("Observation.code"), std::string::npos);
  EXPECT_EQ(p, m.FindSearchParamByUrl("http://hl7.org/fhir/SearchParameter/clinical-code"));
  EXPECT_EQ(SearchParamTypeName(p->type), "token");
}

// Verifies: REQ-FHIR-002
TEST(ModelTest, ReferenceAndCompositeParametersCarryTargetsAndComponents) {
  const Model& m = Model::R4();
  const SearchParamDef* subject = m.FindSearchParam("Observation", "subject");
  ASSERT_NE(subject, nullptr);
  EXPECT_EQ(subject->type, SearchParamType::kReference);
  EXPECT_TRUE(Contains(subject->target, "Patient"));
  const SearchParamDef* cvq = m.FindSearchParam("Observation", "code-value-quantity");
  ASSERT_NE(cvq, nullptr);
  EXPECT_EQ(cvq->type, SearchParamType::kComposite);
  ASSERT_EQ(cvq->components.size(), 2u);
  EXPECT_EQ(cvq->components[0].expression, "code");
  const SearchParamDef* vq = m.FindSearchParam("Observation", "value-quantity");
  ASSERT_NE(vq, nullptr);
  EXPECT_TRUE(Contains(vq->comparators, "gt"));
}

// Verifies: REQ-FHIR-003
TEST(ModelTest, PatientNameIsHumanNameArray) {
  const ElementDef* e = Model::R4().FindElement("Patient", "name");
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->types.size(), 1u);
  EXPECT_EQ(e->types[0], "HumanName");
  EXPECT_TRUE(e->is_array);
  EXPECT_FALSE(e->is_choice);
  EXPECT_TRUE(e->in_summary);
}

// Verifies: REQ-FHIR-003
TEST(ModelTest, ObservationValueIsChoiceIncludingQuantity) {
  const Model& m = Model::R4();
  const ElementDef* e = m.FindElement("Observation", "value");
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->is_choice);
  EXPECT_FALSE(e->is_array);
  EXPECT_TRUE(Contains(e->types, "Quantity"));
  EXPECT_TRUE(Contains(e->types, "CodeableConcept"));
  EXPECT_EQ(m.FindElement("Observation", "valueQuantity"), nullptr);
  const ElementDef* status = m.FindElement("Observation", "status");
  ASSERT_NE(status, nullptr);
  EXPECT_TRUE(status->required);
}

// Verifies: REQ-FHIR-004
TEST(ModelTest, InheritsElementsFromBaseTypes) {
  const Model& m = Model::R4();
  const ElementDef* id = m.FindElement("Patient", "id");
  ASSERT_NE(id, nullptr);
  EXPECT_NE(m.FindElement("Patient", "meta"), nullptr);
  EXPECT_NE(m.FindElement("Patient", "extension"), nullptr);
  EXPECT_NE(m.FindElement("Patient.contact", "modifierExtension"), nullptr);
  EXPECT_NE(m.FindElement("Age", "value"), nullptr);  // Age derives from Quantity
  EXPECT_NE(m.FindElement("string", "extension"), nullptr);
  EXPECT_EQ(m.FindElement("Patient", "nonsense"), nullptr);
  EXPECT_EQ(m.FindElement("NoSuchType", "id"), nullptr);
}

// Verifies: REQ-FHIR-004
TEST(ModelTest, BackboneElementsAreTypesNamedByPath) {
  const Model& m = Model::R4();
  const ElementDef* contact = m.FindElement("Patient", "contact");
  ASSERT_NE(contact, nullptr);
  ASSERT_EQ(contact->types.size(), 1u);
  EXPECT_EQ(contact->types[0], "Patient.contact");
  const TypeDef* t = m.FindType("Patient.contact");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind, TypeKind::kBackbone);
  EXPECT_TRUE(m.IsA("Patient.contact", "BackboneElement"));
  const ElementDef* name = m.FindElement("Patient.contact", "name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->types[0], "HumanName");
  // contentReference: Observation.component.referenceRange reuses Observation.referenceRange.
  const ElementDef* rr = m.FindElement("Observation.component", "referenceRange");
  ASSERT_NE(rr, nullptr);
  EXPECT_EQ(rr->types[0], "Observation.referenceRange");
  EXPECT_NE(m.FindElement("Bundle.entry.request", "method"), nullptr);
}

// Verifies: REQ-FHIR-004
TEST(ModelTest, TypeKindsAndHierarchy) {
  const Model& m = Model::R4();
  EXPECT_TRUE(m.IsA("Patient", "DomainResource"));
  EXPECT_TRUE(m.IsA("Patient", "Resource"));
  EXPECT_TRUE(m.IsA("Patient", "Patient"));
  EXPECT_FALSE(m.IsA("Bundle", "DomainResource"));
  EXPECT_TRUE(m.IsA("Bundle", "Resource"));
  EXPECT_TRUE(m.IsA("code", "string"));
  EXPECT_TRUE(m.IsA("Age", "Quantity"));
  EXPECT_FALSE(m.IsA("Quantity", "Age"));
  ASSERT_NE(m.FindType("boolean"), nullptr);
  EXPECT_EQ(m.FindType("boolean")->kind, TypeKind::kPrimitive);
  EXPECT_EQ(m.FindType("HumanName")->kind, TypeKind::kComplex);
  EXPECT_EQ(m.FindType("Patient")->kind, TypeKind::kResource);
  EXPECT_TRUE(m.FindType("DomainResource")->is_abstract);
  EXPECT_EQ(m.FindType("Patient")->base, "DomainResource");
}

// Verifies: REQ-FHIR-005
TEST(ModelTest, ResourceLevelParametersApplyToEveryResource) {
  const Model& m = Model::R4();
  auto has = [&](std::string_view type, std::string_view code) {
    auto params = m.SearchParams(type);
    return std::any_of(params.begin(), params.end(),
                       [&](const SearchParamDef* p) { return p->code == code; });
  };
  EXPECT_TRUE(has("Patient", "_id"));
  EXPECT_TRUE(has("Patient", "_lastUpdated"));
  EXPECT_TRUE(has("Patient", "_text"));  // DomainResource
  EXPECT_TRUE(has("Patient", "family"));
  EXPECT_TRUE(has("Bundle", "_id"));
  EXPECT_FALSE(has("Bundle", "_text"));  // Bundle is not a DomainResource
  EXPECT_FALSE(has("Patient", "code"));
  ASSERT_NE(m.FindSearchParam("Patient", "_lastUpdated"), nullptr);
  EXPECT_EQ(m.FindSearchParam("Patient", "_lastUpdated")->type, SearchParamType::kDate);
  EXPECT_EQ(m.FindSearchParam("Patient", "nonsense"), nullptr);
  EXPECT_TRUE(m.SearchParams("NoSuchType").empty());
}

}  // namespace
}  // namespace sund::fhir
